namespace LlamaGateway.SlotPersistence;

/// <summary>
/// <c>Gateway:Upstreams[i]:SlotSave</c>: saving a slot's KV state to llama-server's <c>--slot-save-path</c> directory
/// before the slot is handed to another conversation, and restoring it when that conversation returns, so more
/// conversations than slots stay warm. Off unless enabled; needs llama-server started with
/// <c>--slot-save-path DIR</c> and the <c>openai</c> dialect (only pinned slots can be saved and restored).
/// </summary>
internal sealed class SlotSaveOptions
{
    public const double DefaultTimeoutSeconds = 60;

    public bool Enabled { get; set; }

    /// <summary>
    /// Disk the gateway's slot files may use in the save directory (MiB). A state is ~KV bytes per token times its
    /// tokens (a 14B model: ~190 KB per token, so a 30K-token Claude Code conversation is ~5.5 GiB); when a new file
    /// would not fit, the least recently used file is overwritten instead.
    /// </summary>
    public long MaxDiskMiB { get; set; } = 4096;

    /// <summary>States smaller than this (tokens) are not saved, and a restore must reuse this many more tokens than the slot already holds.</summary>
    public int MinTokens { get; set; } = 1024;

    /// <summary>Longest one save or restore may take (seconds); past it the request goes on without it.</summary>
    public double TimeoutSeconds { get; set; } = DefaultTimeoutSeconds;

    /// <summary>
    /// Whether the request goes to llama-server as soon as its restore call has been sent, rather than once the restore
    /// is answered. llama-server runs queued tasks in order between two batches, so the restore still comes first (the
    /// request's own task is queued only after its prompt is parsed and tokenized, tens of milliseconds later), and the
    /// request no longer waits out a whole batch of the other slots after the restore.
    /// </summary>
    public bool ForwardDuringRestore { get; set; } = true;

    public long MaxDiskBytes => MaxDiskMiB * 1024 * 1024;

    /// <summary>Whether a reload changed nothing here (the instance keeps its runtime state).</summary>
    public bool SameAs(SlotSaveOptions other) =>
        Enabled == other.Enabled && MaxDiskMiB == other.MaxDiskMiB && MinTokens == other.MinTokens && TimeoutSeconds.Equals(other.TimeoutSeconds)
        && ForwardDuringRestore == other.ForwardDuringRestore;
}
