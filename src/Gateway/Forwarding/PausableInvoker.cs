using System.Net;
using LlamaGateway.Routing;

namespace LlamaGateway.Forwarding;

/// <summary>
/// The upstream call of a long prefill that a shorter prompt may pause (<see cref="PrefillPreemption"/>). A pause
/// before the upstream's response headers cancels the call, which closes its connection so llama-server stops the
/// task, and answers it here with an empty 503 that the relay drops unsent (the attempt is paused, so it cannot commit).
/// Through YARP a cancelled call would be a forwarding error, logged as a warning with a stack trace for what is
/// routine scheduling.
/// </summary>
internal sealed class PausableInvoker(HttpMessageInvoker inner, CancellationToken pause) : HttpMessageInvoker(UnusedHandler.Instance, disposeHandler: false)
{
    public override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, pause);
        try
        {
            return await inner.SendAsync(request, linked.Token);
        }
        catch (OperationCanceledException) when (pause.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { RequestMessage = request, Content = new ByteArrayContent([]) };
        }
    }

    public override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("The gateway forwards asynchronously.");
}
