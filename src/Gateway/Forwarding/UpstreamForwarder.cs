using System.Net;
using System.Net.Sockets;
using LlamaGateway.Errors;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Reliability;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace LlamaGateway.Forwarding;

/// <summary>
/// Stage 5: sends the prepared request to the leased instance with YARP's forwarder and classifies failures into
/// errors a user can act on (unreachable, timed out, refused). Only a failure to connect, when nothing reached the
/// upstream and nothing reached the client, is reported as <see cref="ForwardOutcome.NotConnected"/> (retryable).
/// </summary>
internal sealed class UpstreamForwarder(
    IHttpForwarder forwarder,
    UpstreamHttpClient client,
    ResponseRelay relay,
    UpstreamHealth health,
    GatewayShutdown shutdown,
    IOptionsMonitor<GatewayOptions> options,
    ILogger<UpstreamForwarder> logger)
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
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, shutdown.DrainExpired);
        ForwarderError error;
        Exception? exception;
        var attempt = 1;
        var preemption = request.Lease.Preemption;
        var pool = request.Route == ApiRoute.CountTokens ? ConnectionPool.Short : ConnectionPool.Generation;
        while (true)
        {
            CancellationToken? pause = null;
            if (preemption is not null)
            {
                try
                {
                    pause = await preemption.NextAttemptAsync(cancel.Token);
                }
                catch (OperationCanceledException)
                {
                    // The client left or the drain ran out while the request was paused (handled below).
                    error = ForwarderError.RequestCanceled;
                    exception = null;
                    break;
                }
            }

            // count_tokens waits for a connection of its own pool, never for one of generation's.
            UpstreamConnection connection;
            try
            {
                connection = await client.AcquireAsync(instance, pool, cancel.Token);
            }
            catch (OperationCanceledException)
            {
                error = ForwarderError.RequestCanceled;
                exception = null;
                break;
            }

            if (connection.Waited is { } waited)
            {
                request.ConnectionWait = (request.ConnectionWait ?? TimeSpan.Zero) + waited;
            }

            HttpMessageInvoker invoker = request.FreshConnection ? client.FreshConnectionInvoker : connection.Invoker;
            if (attempt < MaxAttempts(request.Route))
            {
                invoker = new ClosedConnectionInvoker(invoker, request, timeouts.ConnectSeconds);
            }

            if (pause is { } paused)
            {
                invoker = new PausableInvoker(invoker, paused);
            }

            UpstreamHttpTransformer.UsePreparedBody(http, request);
            instance.RequestStarted();
            try
            {
                error = await forwarder.SendAsync(http, instance.DestinationPrefix, invoker, config, transformer, cancel.Token);
            }
            finally
            {
                // YARP has disposed the upstream response by now, so its connection is back in the pool or closed.
                connection.Dispose();
                instance.RequestEnded();
            }

            if (preemption is not null && preemption.EndAttempt() && !cancel.IsCancellationRequested)
            {
                // Paused for shorter prompts before any output: sent again once they are processed, and llama-server
                // continues from the tokens this attempt processed. Nothing has reached the client (the relay starts
                // the response with the first event), so the status YARP set for the cancelled call is undone.
                ResetResponse(http);
                continue;
            }

            if (request.UpstreamClosedEarly is { } closed)
            {
                // Closed before answering on an attempt that may be repeated: sent again below, without YARP's warning.
                request.UpstreamClosedEarly = null;
                if (shutdown.DrainExpired.IsCancellationRequested || http.RequestAborted.IsCancellationRequested)
                {
                    error = ForwarderError.Request;
                    exception = closed;
                    break;
                }

                ReliabilityLog.ClosedBeforeAnswer(logger, instance.Name, closed.GetBaseException().Message);
            }
            else
            {
                if (error == ForwarderError.None)
                {
                    // The relay has written the response (or its error) and reported the instance's health.
                    return ForwardOutcome.Completed;
                }

                exception = http.Features.Get<IForwarderErrorFeature>()?.Exception;
                if (!ClosedWithoutAnswer(http, error, exception, timeouts.ConnectSeconds) || shutdown.DrainExpired.IsCancellationRequested
                    || attempt >= MaxAttempts(request.Route))
                {
                    break;
                }
            }

            // The upstream closed the connection before answering. llama-server closes its connection after every
            // streamed response without saying so, and a pooled connection taken just before that close arrives
            // fails exactly like this, before llama-server has read the request; count_tokens connections are also
            // dropped when Claude Code sends its burst of them. Sent again on a connection of its own, and only to
            // this instance (below): had the request itself crashed the server, the retry finds it refusing.
            ResetResponse(http);
            request.FreshConnection = true;
            attempt++;
        }

        if (http.RequestAborted.IsCancellationRequested || error is ForwarderError.RequestBodyClient or ForwarderError.ResponseBodyClient)
        {
            request.Fail(ApiErrorKind.Internal, "client disconnected");
            return ForwardOutcome.ClientGone;
        }

        if (shutdown.DrainExpired.IsCancellationRequested)
        {
            var stopping = relay.ShuttingDownMessage();
            request.Fail(ApiErrorKind.Overloaded, stopping);
            await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.Overloaded, stopping, TimeSpan.FromSeconds(5));
            return ForwardOutcome.Completed;
        }

        // YARP reports SocketsHttpHandler's connect timeout (an OperationCanceledException) as RequestTimedOut.
        if (error is ForwarderError.Request or ForwarderError.RequestTimedOut && !http.Response.HasStarted && IsConnectFailure(exception, timeouts.ConnectSeconds, out var why))
        {
            var message = $"Upstream '{instance.Name}' at {instance.DestinationPrefix} is unreachable: {why}.";
            health.Unreachable(instance, message);
            if (attempt == 1 || request.Route == ApiRoute.CountTokens)
            {
                // Not recorded as the request's failure: another instance may still serve it. Its reason lives on in
                // the instance's LastError, which the final 503 quotes if none can.
                ResetResponse(http);
                return ForwardOutcome.NotConnected;
            }

            // This instance closed the connection the request went out on and now refuses new ones: it may have
            // crashed on this very request, which must not be carried to every instance in turn.
            var crashed = $"Upstream '{instance.Name}' closed the connection without answering and then refused a new one ({why}); it may have failed on this request, so it was not sent to another instance.";
            request.Fail(ApiErrorKind.UpstreamError, crashed);
            await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.UpstreamError, crashed);
            return ForwardOutcome.Completed;
        }

        var (kind, text) = error switch
        {
            ForwarderError.RequestTimedOut => (ApiErrorKind.UpstreamTimeout,
                $"Upstream '{instance.Name}' did not start answering within {timeouts.FirstByteSeconds:0.#} s (Gateway:Timeouts:FirstByteSeconds)."),
            ForwarderError.ResponseBodyDestination => (ApiErrorKind.UpstreamError, $"Upstream '{instance.Name}' failed while sending its response."),
            _ => (ApiErrorKind.UpstreamError, $"Upstream '{instance.Name}' failed: {exception?.GetBaseException().Message ?? error.ToString()}."),
        };
        health.RequestFailed(instance, text);
        request.Fail(kind, text);
        await ApiErrorWriter.WriteAsync(http, request.ClientDialect, kind, text);
        return ForwardOutcome.Completed;
    }

    /// <summary>Attempts per count_tokens request when the upstream closes the connection before answering.</summary>
    internal const int MaxCountTokensAttempts = 3;

    /// <summary>
    /// Attempts per model request when the upstream closes the connection before answering: one retry, since the
    /// request may have reached the upstream (a generation is never replayed after any response byte).
    /// </summary>
    internal const int MaxModelRequestAttempts = 2;

    private static int MaxAttempts(ApiRoute route) => route == ApiRoute.CountTokens ? MaxCountTokensAttempts : MaxModelRequestAttempts;

    /// <summary>
    /// The connection broke after it was made and before any response header arrived (closed or reset), the client is
    /// still there and it was not a timeout.
    /// </summary>
    private static bool ClosedWithoutAnswer(HttpContext http, ForwarderError error, Exception? exception, double connectSeconds) =>
        error == ForwarderError.Request
        && !http.Response.HasStarted
        && !http.RequestAborted.IsCancellationRequested
        && IsClosedConnection(exception, connectSeconds);

    /// <summary>
    /// The upstream call failed on a connection that had been made: closed or reset under the request, not refused.
    /// What the forwarder sends again on a new connection, whether YARP reported it or
    /// <see cref="ClosedConnectionInvoker"/> caught it first.
    /// </summary>
    internal static bool IsClosedConnection(Exception? exception, double connectSeconds) =>
        exception is HttpRequestException or IOException && !IsConnectFailure(exception, connectSeconds, out _);

    private static void ResetResponse(HttpContext http)
    {
        http.Features.Set<IForwarderErrorFeature>(null);
        http.Response.StatusCode = StatusCodes.Status200OK;
    }

    /// <summary>
    /// True only when no connection was made, so no byte of the request reached the upstream: refused, unresolvable,
    /// unreachable, or the connect timeout. A connection that breaks after the request was written (reset, closed
    /// early) is not one of these even though a SocketException may sit inside it: the upstream may already be
    /// generating, and a request that crashes servers must not be carried to every instance in turn.
    /// </summary>
    internal static bool IsConnectFailure(Exception? exception, double connectSeconds, out string reason)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError } http:
                    reason = (http.InnerException as SocketException)?.SocketErrorCode switch
                    {
                        SocketError.ConnectionRefused => "connection refused (is llama-server running?)",
                        SocketError.HostNotFound or SocketError.NoData => "host not found",
                        SocketError.TimedOut => "connection timed out",
                        SocketError.NetworkUnreachable or SocketError.HostUnreachable => "network unreachable",
                        { } code => code.ToString(),
                        null => http.Message,
                    };
                    return true;
                case HttpRequestException:
                    // Any other request failure happened on an established connection.
                    reason = string.Empty;
                    return false;
                case OperationCanceledException { InnerException: TimeoutException }:
                    // SocketsHttpHandler's ConnectTimeout: the connection was never established.
                    reason = $"no connection within {connectSeconds:0.#} s (Gateway:Timeouts:ConnectSeconds)";
                    return true;
            }
        }

        reason = string.Empty;
        return false;
    }
}
