using System.Runtime.CompilerServices;
using LlamaGateway.Pipeline;
using LlamaGateway.Upstreams;

namespace LlamaGateway.SlotPersistence;

/// <summary>
/// The saved-state index of every instance that has <c>SlotSave</c> enabled. An instance that a reload replaced
/// (its options changed) starts a new index whose file names start over, so it overwrites the old files rather than
/// adding to them.
/// </summary>
internal sealed class SavedStateCatalog
{
    private readonly ConditionalWeakTable<UpstreamInstance, SavedStateIndex> _indexes = new();

    /// <summary>
    /// The index of <paramref name="instance"/>, or null when saving is off there. Only the <c>openai</c> dialect pins
    /// requests to slots; without pinning the gateway does not know which slot to save or restore into.
    /// </summary>
    public SavedStateIndex? For(UpstreamInstance instance) =>
        instance.Options.SlotSave.Enabled && instance.Dialect == ApiDialect.OpenAi
            ? _indexes.GetValue(instance, static i => new SavedStateIndex(i))
            : null;
}
