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

        var content = new ReadOnlyMemoryContent(request.UpstreamBody);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        proxyRequest.Content = content;
        return ValueTask.CompletedTask;
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
