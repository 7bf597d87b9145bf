using System.Net;
using System.Net.Sockets;
using LlamaGateway.Errors;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace LlamaGateway.Forwarding;

/// <summary>
/// Stage 5: sends the prepared request to the leased instance with YARP's forwarder and classifies failures into
/// errors a user can act on (unreachable, timed out, refused).
/// </summary>
internal sealed class UpstreamForwarder(
    IHttpForwarder forwarder,
    UpstreamHttpClient client,
    ResponseRelay relay,
    IOptionsMonitor<GatewayOptions> options)
{
    public async Task<ForwardOutcome> ForwardAsync(HttpContext http, GatewayRequestContext request)
    {
        var instance = request.Lease!.Instance;
        var timeouts = options.CurrentValue.Timeouts;
        var config = new ForwarderRequestConfig
        {
            // YARP's activity timeout covers waiting for response headers: that is the prefill wait.
            ActivityTimeout = TimeSpan.FromSeconds(timeouts.FirstByteSeconds),
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            AllowResponseBuffering = false,
        };

        var transformer = new UpstreamHttpTransformer(request, relay);
        var error = await forwarder.SendAsync(http, instance.DestinationPrefix, client.Invoker, config, transformer, http.RequestAborted);
        if (error == ForwarderError.None)
        {
            return ForwardOutcome.Completed;
        }

        var exception = http.Features.Get<IForwarderErrorFeature>()?.Exception;
        if (http.RequestAborted.IsCancellationRequested || error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.ResponseBodyCanceled or ForwarderError.RequestBodyClient or ForwarderError.ResponseBodyClient)
        {
            request.Fail(ApiErrorKind.Internal, "client disconnected");
            return ForwardOutcome.ClientGone;
        }

        if (error == ForwarderError.Request && !http.Response.HasStarted && IsConnectFailure(exception, out var why))
        {
            var message = $"Upstream '{instance.Name}' at {instance.DestinationPrefix} is unreachable: {why}.";
            instance.MarkUnhealthy(message);
            request.Fail(ApiErrorKind.UpstreamUnavailable, message);
            ResetResponse(http);
            return ForwardOutcome.NotConnected;
        }

        var (kind, text) = error switch
        {
            ForwarderError.RequestTimedOut => (ApiErrorKind.UpstreamTimeout,
                $"Upstream '{instance.Name}' did not start answering within {timeouts.FirstByteSeconds:0.#} s (Gateway:Timeouts:FirstByteSeconds)."),
            ForwarderError.ResponseBodyDestination => (ApiErrorKind.UpstreamError, $"Upstream '{instance.Name}' failed while sending its response."),
            _ => (ApiErrorKind.UpstreamError, $"Upstream '{instance.Name}' failed: {exception?.GetBaseException().Message ?? error.ToString()}."),
        };
        request.Fail(kind, text);
        await ApiErrorWriter.WriteAsync(http, request.ClientDialect, kind, text);
        return ForwardOutcome.Completed;
    }

    private static void ResetResponse(HttpContext http)
    {
        http.Features.Set<IForwarderErrorFeature>(null);
        http.Response.StatusCode = StatusCodes.Status200OK;
    }

    /// <summary>True when the failure happened before any byte reached the upstream (safe to retry elsewhere).</summary>
    private static bool IsConnectFailure(Exception? exception, out string reason)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case SocketException socket:
                    reason = socket.SocketErrorCode switch
                    {
                        SocketError.ConnectionRefused => "connection refused (is llama-server running?)",
                        SocketError.HostNotFound or SocketError.NoData => "host not found",
                        SocketError.TimedOut => "connection timed out",
                        SocketError.NetworkUnreachable or SocketError.HostUnreachable => "network unreachable",
                        _ => socket.SocketErrorCode.ToString(),
                    };
                    return true;
                case TimeoutException:
                    reason = "no connection within Gateway:Timeouts:ConnectSeconds";
                    return true;
                case HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError } http:
                    reason = http.Message;
                    return true;
            }
        }

        reason = string.Empty;
        return false;
    }
}
