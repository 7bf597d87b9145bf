using LlamaGateway.Pipeline;
using Yarp.ReverseProxy.Forwarder;

namespace LlamaGateway.Forwarding;

/// <summary>
/// Shapes the YARP request for one gateway request: the upstream path and prepared body, the allowed headers
/// (<see cref="UpstreamRequestHeaders"/>: no caller credentials, the upstream's own Host and key); then hands the
/// response to <see cref="ResponseRelay"/> (which writes the body itself, so it can translate, meter usage and end
/// broken streams cleanly).
/// </summary>
internal sealed class UpstreamHttpTransformer(GatewayRequestContext request, ResponseRelay relay) : HttpTransformer
{
    public override ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        // Not YARP's default copy of every client header (Host, Cookie, the caller's keys, X-Forwarded-*): only the
        // allow list, the upstream's own Host and its own configured key. No Accept-Encoding: the relay parses the
        // stream, so it must arrive uncompressed.
        var instance = request.Lease!.Instance;
        proxyRequest.RequestUri = new Uri(instance.BaseUri, request.UpstreamPath.TrimStart('/'));
        proxyRequest.Method = HttpMethod.Post;
        UpstreamRequestHeaders.Apply(httpContext, proxyRequest, instance,
            UpstreamRequestHeaders.SendsAnthropicHeaders(request.Route, instance, request.TranslateResponse));

        // The retry after an upstream closed a connection without answering goes on a connection of its own.
        if (request.FreshConnection)
        {
            proxyRequest.Headers.ConnectionClose = true;
        }

        // YARP forwards the incoming request's body (made the prepared one by UsePreparedBody) and does not allow
        // replacing its content; the content headers are the gateway's own.
        if (proxyRequest.Content is { } content)
        {
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            content.Headers.ContentLength = request.UpstreamBody.Length;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Makes the prepared upstream body the request body YARP forwards, before each attempt: the client's own body has
    /// been read and normalized already.
    /// </summary>
    public static void UsePreparedBody(HttpContext httpContext, GatewayRequestContext request)
    {
        var incoming = httpContext.Request;
        incoming.Body = new UpstreamBodyStream(request);
        incoming.ContentLength = request.UpstreamBody.Length;
        incoming.Headers.Remove(Microsoft.Net.Http.Headers.HeaderNames.TransferEncoding);
        incoming.Headers.Remove(Microsoft.Net.Http.Headers.HeaderNames.ContentEncoding);
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is null)
        {
            return await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        }

        await relay.RelayAsync(httpContext, request, proxyResponse);
        return false;
    }
}
