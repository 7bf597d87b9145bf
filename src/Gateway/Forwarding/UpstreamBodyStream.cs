using LlamaGateway.Pipeline;

namespace LlamaGateway.Forwarding;

/// <summary>
/// The prepared upstream body as the request stream YARP forwards, read from the request's pooled buffer as YARP
/// copies it. Unlike a MemoryStream over the buffer's array it holds no reference to that array: the incoming
/// request (and YARP's content wrapping this stream) can outlive the request (Kestrel keeps an idle keep-alive
/// connection's last request around), and once the request is over its buffer has gone back to the pool or, for a
/// large body, to the GC, which a kept array would have prevented (measured: one 12 MB body per keep-alive connection
/// still reachable after a burst).
/// </summary>
internal sealed class UpstreamBodyStream(GatewayRequestContext request) : Stream
{
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => request.UpstreamBody.Length;

    public override long Position
    {
        get => _position;
        set => _position = Math.Clamp(value, 0, Length);
    }

    public override int Read(Span<byte> buffer)
    {
        var body = request.UpstreamBody.Span;
        if (_position >= body.Length)
        {
            return 0;
        }

        var count = Math.Min(buffer.Length, body.Length - (int)_position);
        body.Slice((int)_position, count).CopyTo(buffer);
        _position += count;
        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<int>(cancellationToken) : new(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => Length + offset,
    };

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
