using LlamaGateway.Pipeline;

namespace LlamaGateway.PrefillChunking;

/// <summary>
/// The prompt llama-server renders from a chat request (<c>/apply-template</c>), kept as the escaped bytes of the JSON
/// string it came in: a chunk's request sends a prefix of them as its own JSON string, without decoding or escaping.
/// </summary>
internal sealed class RenderedPrompt(PooledBuffer answer, int start, int length) : IDisposable
{
    public ReadOnlyMemory<byte> Escaped => answer.WrittenMemory.Slice(start, length);

    public void Dispose() => answer.Dispose();
}
