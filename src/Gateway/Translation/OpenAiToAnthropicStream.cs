using System.Buffers;
using LlamaGateway.Usage;

namespace LlamaGateway.Translation;

// Placeholder replaced by the translation branch.
internal sealed class OpenAiToAnthropicStream(string model)
{
    public UpstreamUsage Usage { get; } = new();
    public bool Completed { get; private set; }
    public void OnChunk(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output) => throw new NotImplementedException(model);
    public void OnDone(IBufferWriter<byte> output) => Completed = true;
}
