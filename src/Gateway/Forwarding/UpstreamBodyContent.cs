using System.Net;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Forwarding;

/// <summary>
/// The upstream request's body, read from the request's pooled buffer when it is sent. Unlike a
/// <see cref="ReadOnlyMemoryContent"/> it holds no reference to the buffer's array: an HttpRequestMessage can outlive
/// its request (an idle pooled connection, a response kept by a caller), and once the request is over its buffer has
/// gone back to the pool, or, for a large body, to the GC, which a kept Memory would have prevented.
/// A body too large for the pool is written through a pooled 1 MiB buffer instead of in one write: the socket's cached
/// send arguments keep a reference to the last buffer they sent until the connection sends again, so an idle pooled
/// connection would keep a 30 MB body alive (measured: one per connection after a burst, 720 MB in all).
/// </summary>
internal sealed class UpstreamBodyContent(GatewayRequestContext request) : HttpContent
{
    private const int CopyChunk = 1024 * 1024;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var body = request.UpstreamBody;
        return body.Length <= BodyBufferPool.Bytes.MaxPooledLength
            ? stream.WriteAsync(body, cancellationToken).AsTask()
            : WriteThroughPooledChunkAsync(stream, body, cancellationToken);
    }

    private static async Task WriteThroughPooledChunkAsync(Stream stream, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var chunk = BodyBufferPool.Bytes.Rent(CopyChunk);
        try
        {
            for (var at = 0; at < body.Length; at += CopyChunk)
            {
                var length = Math.Min(CopyChunk, body.Length - at);
                body.Span.Slice(at, length).CopyTo(chunk);
                await stream.WriteAsync(chunk.AsMemory(0, length), cancellationToken);
            }
        }
        finally
        {
            BodyBufferPool.Bytes.Return(chunk);
        }
    }

    protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        stream.Write(request.UpstreamBody.Span);

    protected override bool TryComputeLength(out long length)
    {
        length = request.UpstreamBody.Length;
        return true;
    }

    protected override Task<Stream> CreateContentReadStreamAsync() =>
        Task.FromResult<Stream>(new MemoryStream(request.UpstreamBody.ToArray(), writable: false));
}
