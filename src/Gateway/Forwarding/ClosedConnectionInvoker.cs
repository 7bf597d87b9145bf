using System.Net;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Forwarding;

/// <summary>
/// The upstream call of an attempt that will be sent again if the upstream closes the connection before answering
/// (llama-server closes a keep-alive connection after every streamed response without saying so, and a pooled
/// connection taken just then fails like this). Such a close is recorded on the request and answered here with an
/// empty 502 that the relay drops unsent; the forwarder then sends the request on a connection of its own. Through
/// YARP it would be a forwarding error, logged as a warning with a stack trace for what is routine. The last attempt
/// is not wrapped: its failure is the request's, reported as one.
/// </summary>
internal sealed class ClosedConnectionInvoker(HttpMessageInvoker inner, GatewayRequestContext context, double connectSeconds)
    : HttpMessageInvoker(UnusedHandler.Instance, disposeHandler: false)
{
    public override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        try
        {
            return await inner.SendAsync(request, cancellationToken);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && UpstreamForwarder.IsClosedConnection(ex, connectSeconds))
        {
            context.UpstreamClosedEarly = ex;
            return new HttpResponseMessage(HttpStatusCode.BadGateway) { RequestMessage = request, Content = new ByteArrayContent([]) };
        }
    }

    public override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("The gateway forwards asynchronously.");
}
