using System.Net;
using System.Net.Http.Headers;

namespace LlamaGateway.SlotPersistence;

/// <summary>
/// A small JSON body that says when it has been sent: after writing itself it flushes the connection, so the whole
/// call is in the socket (on loopback, already in llama-server's receive buffer) when <c>sent</c> completes.
/// </summary>
internal sealed class SignallingJsonContent : HttpContent
{
    private readonly byte[] _body;
    private readonly TaskCompletionSource? _sent;

    public SignallingJsonContent(byte[] body, TaskCompletionSource? sent)
    {
        _body = body;
        _sent = sent;
        Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
    }

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(_body, cancellationToken);
        if (_sent is not null)
        {
            await stream.FlushAsync(cancellationToken);
            _sent.TrySetResult();
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = _body.Length;
        return true;
    }
}
