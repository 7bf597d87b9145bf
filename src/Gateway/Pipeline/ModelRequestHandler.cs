using System.Diagnostics;
using LlamaGateway.Conversations;
using LlamaGateway.Errors;
using LlamaGateway.Forwarding;
using LlamaGateway.Normalization;
using LlamaGateway.PrefillChunking;
using LlamaGateway.Reliability;
using LlamaGateway.Routing;
using LlamaGateway.SlotPersistence;
using LlamaGateway.Translation;
using LlamaGateway.Usage;

namespace LlamaGateway.Pipeline;

/// <summary>
/// The one pipeline every model request takes, in order:
/// read + normalize -> identify the conversation -> choose (instance, slot) -> translate -> (save/restore the slot)
/// -> (prefill a long prompt in chunks) -> forward and stream -> account.
/// </summary>
internal sealed class ModelRequestHandler(
    RequestBodyReader bodyReader,
    ConversationTable conversations,
    SlotRouter router,
    SlotHandover handover,
    PrefillChunker chunker,
    UpstreamForwarder forwarder,
    UsageLedger ledger,
    GatewayShutdown shutdown,
    TimeProvider time,
    ILogger<ModelRequestHandler> logger)
{
    private const string SessionHeader = "X-Claude-Code-Session-Id";

    public async Task HandleAsync(HttpContext http, ApiRoute route)
    {
        using var inFlight = shutdown.Enter();
        using var request = new GatewayRequestContext(route, time.GetTimestamp());
        http.Features.Set(request);
        request.User = http.Features.Get<Auth.AuthenticatedUser>()?.Name;
        request.UserCapWait = http.Features.Get<Auth.UserCapWait>()?.Waited;
        try
        {
            if (shutdown.IsStopping)
            {
                // A request on a connection that was open before the stop began; a retry reaches another gateway or this one restarted.
                const string stopping = "The gateway is shutting down; retry the request.";
                request.Fail(ApiErrorKind.Overloaded, stopping);
                await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.Overloaded, stopping, TimeSpan.FromSeconds(5));
                return;
            }

            await RunAsync(http, request);
        }
        catch (Exception ex) when (!http.RequestAborted.IsCancellationRequested)
        {
            // A bug must cost one request a clear error, never the client a bare 500 or a silently cut stream.
            ReliabilityLog.UnhandledFailure(logger, http.Request.Method, route.Path(), ex);
            request.Fail(ApiErrorKind.Internal, $"internal error: {ex.GetType().Name}");
            await WriteInternalErrorAsync(http, request);
        }
        catch (Exception) when (http.RequestAborted.IsCancellationRequested)
        {
            request.Fail(ApiErrorKind.Internal, "client disconnected");
        }
        finally
        {
            // A restore still unanswered settles what the slot holds before the slot is released to anyone else.
            await request.SettleSlotActionAsync();
            request.Lease?.Dispose();
            if (request.Lease is { Preemption: { Pauses: > 0 } preemption } lease)
            {
                lease.Instance.CountPrefillPauses(preemption.Pauses, preemption.PausedTime);
            }

            ledger.Record(request);
            Log(http, request);
        }
    }

    private async Task RunAsync(HttpContext http, GatewayRequestContext request)
    {
        // 1. Read + normalize, then make sure the body has the shape its route needs before anything is forwarded.
        if (!await bodyReader.ReadAndNormalizeAsync(http, request))
        {
            return;
        }

        if (RequestShapeCheck.Check(request.BodyTape!, request.Route) is { } shapeError)
        {
            request.Fail(ApiErrorKind.InvalidRequest, shapeError);
            await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.InvalidRequest, $"Invalid request body: {shapeError}");
            return;
        }

        // 2. Identify the conversation.
        request.Fingerprint = ConversationFingerprinter.Compute(request.BodyTape!, request.Route);
        var session = http.Request.Headers[SessionHeader];
        request.SessionId = session.Count > 0 ? session[0] : null;
        if (request.Fingerprint is { } fingerprint && RequestClassifier.Classify(request.Route, fingerprint) == RequestKind.Conversation)
        {
            // Conversations belong to one identity: another user's identical content or replayed session id is not yours.
            request.Conversation = conversations.Resolve(fingerprint, request.ClientIdentity, request.User, request.SessionId);
        }

        // 3-5. Choose an instance and slot, translate for it, forward. A connect failure (nothing sent, nothing
        // generated) may move on to the next instance; anything later may not, since it could replay a generation.
        // Each connect failure takes its instance out of routing, so the attempts are bounded by the pool's size (a
        // probe could bring one back meanwhile, hence the explicit bound).
        var attempts = 0;
        var maxAttempts = router.InstanceCount + 1;
        using var routeCancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, shutdown.DrainExpired);
        while (true)
        {
            var queued = time.GetTimestamp();
            request.Lease = await router.RouteAsync(request, request.Conversation, routeCancel.Token);
            request.QueueTime += time.GetElapsedTime(queued);
            if (request.Lease is null)
            {
                if (http.RequestAborted.IsCancellationRequested)
                {
                    request.Fail(ApiErrorKind.Internal, "client disconnected while queued");
                    return;
                }

                if (shutdown.DrainExpired.IsCancellationRequested)
                {
                    const string drained = "The gateway is shutting down and no slot became free before the drain time ended (Gateway:Shutdown:DrainSeconds); retry the request.";
                    request.Fail(ApiErrorKind.Overloaded, drained);
                    await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.Overloaded, drained, TimeSpan.FromSeconds(5));
                    return;
                }

                var message = request.FailureKind == ApiErrorKind.Overloaded
                    ? request.FailureMessage!
                    : $"No upstream can serve this request right now: {router.DescribeUnavailable(request.Route)}. See /status.";
                request.Fail(ApiErrorKind.Overloaded, message);
                await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.Overloaded, message, TimeSpan.FromSeconds(5));
                return;
            }

            string? buildError;
            try
            {
                buildError = UpstreamRequestBuilder.Build(request);
            }
            catch (Exception ex) when (ex is System.Text.Json.JsonException or FormatException or InvalidOperationException or ArgumentException or InsufficientExecutionStackException)
            {
                // The body passed normalization but a later reader choked on it: still the request's fault.
                buildError = $"request body could not be read ({ex.Message})";
            }

            if (buildError is not null)
            {
                request.Fail(ApiErrorKind.InvalidRequest, buildError);
                await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.InvalidRequest, $"Invalid request body: {buildError}");
                return;
            }

            // With SlotSave on: save the state this request evicts, restore the conversation's own saved state.
            await handover.PrepareAsync(request, routeCancel.Token);
            if (http.RequestAborted.IsCancellationRequested)
            {
                request.Fail(ApiErrorKind.Internal, "client disconnected");
                return;
            }

            // A long prompt goes to its slot a chunk at a time, giving way to shorter prompts between chunks.
            await chunker.PrefillAsync(request, routeCancel.Token);
            if (http.RequestAborted.IsCancellationRequested)
            {
                request.Fail(ApiErrorKind.Internal, "client disconnected");
                return;
            }

            // Built not to reuse the slot (Gateway:Isolation PerUser), but the slot holds the request's own tokens now
            // (its saved state restored, its first chunk computed): built again to reuse them. It built once already.
            if (request.Lease.LiftedSinceBuilt)
            {
                request.ReleaseUpstreamBody();
                UpstreamRequestBuilder.Build(request);
            }

            var outcome = await forwarder.ForwardAsync(http, request);
            if (outcome != ForwardOutcome.NotConnected)
            {
                chunker.Settle(request);
                return;
            }

            attempts++;
            var unreachable = request.Lease.Instance;
            await request.SettleSlotActionAsync();
            request.Lease.Dispose();
            request.Lease = null;
            request.ReleaseUpstreamBody();
            request.ChunkedPrefill = null;
            if (attempts >= maxAttempts)
            {
                var message = $"No upstream could be reached after {attempts} attempts; last: {unreachable.PublicError}";
                request.Fail(ApiErrorKind.UpstreamUnavailable, message);
                await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.UpstreamUnavailable, message);
                return;
            }

            GatewayLog.RetryingElsewhere(logger, unreachable.Name, unreachable.LastError ?? string.Empty);
        }
    }

    private static Task WriteInternalErrorAsync(HttpContext http, GatewayRequestContext request) =>
        // Mid-stream this ends the stream with an error event rather than a silent truncation.
        ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.Internal, "The gateway failed to handle this request (see its log); retry it.");

    /// <summary>
    /// What of the request's time went to waiting rather than to the upstream: its user's cap (before the duration
    /// starts), the router's queue (and why), a free upstream connection, the slot save/restore, the pauses of a long prefill for shorter prompts, and a chunked prefill's chunks and the time
    /// it gave way to shorter prompts, so a slow turn in the log says whether the gateway or the model took the time.
    /// Text is built only for requests that waited or were chunked.
    /// </summary>
    private static string Waited(GatewayRequestContext request)
    {
        var queued = request.WaitReasons is not null;
        var slotAction = request.SlotActionTime > TimeSpan.Zero;
        var pauses = request.Lease?.Preemption?.Pauses ?? 0;
        var chunked = request.ChunkedPrefill;
        if (!queued && !slotAction && pauses == 0 && chunked is null && request.UserCapWait is null && request.ConnectionWait is null)
        {
            return "no wait";
        }

        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        var parts = new List<string>(4);
        if (request.UserCapWait is { } capWait)
        {
            parts.Add(string.Create(invariant, $"waited {capWait.TotalMilliseconds:0} ms behind the user's own requests (Gateway:Limits) before this"));
        }

        if (queued)
        {
            parts.Add(string.Create(invariant, $"queued {request.QueueTime.TotalMilliseconds:0} ms: {request.WaitReasons}"));
        }

        if (request.ConnectionWait is { } connectionWait)
        {
            parts.Add(string.Create(invariant, $"waited {connectionWait.TotalMilliseconds:0} ms for an upstream connection"));
        }

        if (slotAction)
        {
            parts.Add(string.Create(invariant, $"slot save/restore {request.SlotActionTime.TotalMilliseconds:0} ms"));
        }

        if (pauses > 0)
        {
            parts.Add(string.Create(invariant, $"paused {request.Lease!.Preemption!.PausedTime.TotalMilliseconds:0} ms for shorter prompts ({pauses}x)"));
        }

        if (chunked is not null)
        {
            // Not a wait of its own (the chunks are the prompt's prefill), but the time given way to shorter prompts is.
            parts.Add(string.Create(invariant, $"prefilled {chunked.ComputedTokens} tokens in {chunked.Chunks} chunks, gave way {chunked.Yielded.TotalMilliseconds:0} ms to shorter prompts"));
        }

        return string.Join("; ", parts);
    }

    private void Log(HttpContext http, GatewayRequestContext request)
    {
        var elapsed = time.GetElapsedTime(request.StartTimestamp).TotalMilliseconds;
        var upstream = request.Lease?.Instance.Name ?? "-";
        var user = request.User ?? "-";
        if (request.FailureKind is { } kind)
        {
            GatewayLog.RequestFailed(logger, http.Request.Method, request.Route.Path(), upstream, elapsed, request.FailureMessage ?? "-", kind.ToString(), user);
            return;
        }

        GatewayLog.RequestCompleted(logger, http.Request.Method, request.Route.Path(), upstream,
            request.Lease?.Slot?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "any", request.Lease?.Reason ?? "-",
            http.Response.StatusCode, elapsed, Waited(request), request.RequestBytes, request.ResponseBytes,
            request.Usage.PromptTokens, request.Usage.CachedTokens, request.Usage.OutputTokens, user);
    }
}
