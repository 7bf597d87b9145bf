namespace LlamaGateway.Streaming;

// Placeholder replaced by the streaming branch.
internal sealed class SseEventReader(Stream stream) : IDisposable
{
    public ReadOnlyMemory<byte> EventName => default;
    public ReadOnlyMemory<byte> Data => default;
    public ReadOnlyMemory<byte> RawEvent => default;
    public ValueTask<bool> ReadNextAsync(CancellationToken cancellationToken) => throw new NotImplementedException(stream.ToString());
    public void Dispose() { }
}
