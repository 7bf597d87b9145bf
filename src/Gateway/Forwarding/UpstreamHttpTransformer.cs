using System.Net.Http.Headers;
using LlamaGateway.Pipeline;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace LlamaGateway.Forwarding;

/// <summary>
/// Shapes the YARP request for one gateway request: the upstream path (the prepared body is set by <see cref="UsePreparedBody"/>), no caller credentials,
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

    }

    /// <summary>
    /// Makes the prepared upstream body the request body YARP forwards (YARP copies the incoming request's body and
    /// does not allow replacing its outgoing content), before each attempt: the client's own body has been read and
    /// normalized already.
    /// </summary>
    public static void UsePreparedBody(HttpContext httpContext, ReadOnlyMemory<byte> body)
    {
        var stream = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(body, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(body.ToArray(), writable: false);
        var incoming = httpContext.Request;
        incoming.Body = stream;
        incoming.ContentLength = body.Length;
        incoming.ContentType = "application/json; charset=utf-8";
        incoming.Headers.Remove(HeaderNames.TransferEncoding);
        incoming.Headers.Remove(HeaderNames.ContentEncoding);
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
