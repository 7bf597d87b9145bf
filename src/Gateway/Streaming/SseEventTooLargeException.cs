namespace LlamaGateway.Streaming;

/// <summary>An upstream sent a Server-Sent Event larger than the reader accepts; the stream cannot be relayed.</summary>
internal sealed class SseEventTooLargeException : IOException
{
    public SseEventTooLargeException(int maxEventBytes)
        : base($"a server-sent event exceeded the limit of {maxEventBytes} bytes")
    {
        MaxEventBytes = maxEventBytes;
    }

    public int MaxEventBytes { get; }
}
