using System.Net.Http.Headers;
using LlamaGateway.Pipeline;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace LlamaGateway.Forwarding;

/// <summary>
/// Shapes the YARP request for one gateway request: the upstream path and prepared body, no caller credentials,
/// the upstream's own key; then hands the response to <see cref="ResponseRelay"/> (which writes the body itself, so
/// it can translate, meter usage and end broken streams cleanly).
/// </summary>
internal sealed class UpstreamHttpTransformer(GatewayRequestContext request, ResponseRelay relay) : HttpTransformer
{
    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        var instance = request.Lease!.Instance;
        proxyRequest.RequestUri = new Uri(instance.BaseUri, request.UpstreamPath.TrimStart('/'));
        proxyRequest.Method = HttpMethod.Post;

        // A user's gateway key must never reach an upstream; the upstream gets its own configured key or none.
        proxyRequest.Headers.Remove("x-api-key");
        proxyRequest.Headers.Authorization = null;
        if (!string.IsNullOrEmpty(instance.Options.ApiKey))
        {
            proxyRequest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", instance.Options.ApiKey);
        }

        // The relay parses the stream, so it must arrive uncompressed.
        proxyRequest.Headers.Remove(HeaderNames.AcceptEncoding);

        // The retry after an upstream closed a connection without answering goes on a connection of its own.
        if (request.FreshConnection)
        {
            proxyRequest.Headers.ConnectionClose = true;
        }

        var content = new UpstreamBodyContent(request);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        proxyRequest.Content = content;
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
