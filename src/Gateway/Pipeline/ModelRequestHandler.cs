using System.Diagnostics;
using LlamaGateway.Conversations;
using LlamaGateway.Errors;
using LlamaGateway.Forwarding;
using LlamaGateway.Normalization;
using LlamaGateway.Routing;
using LlamaGateway.Translation;
using LlamaGateway.Usage;

namespace LlamaGateway.Pipeline;

/// <summary>
/// The one pipeline every model request takes, in order:
/// read + normalize -> identify the conversation -> choose (instance, slot) -> translate -> forward and stream -> account.
/// </summary>
internal sealed class ModelRequestHandler(
    RequestBodyReader bodyReader,
    ConversationTable conversations,
    SlotRouter router,
    UpstreamForwarder forwarder,
    UsageLedger ledger,
    TimeProvider time,
    ILogger<ModelRequestHandler> logger)
{
    private const string SessionHeader = "X-Claude-Code-Session-Id";

    public async Task HandleAsync(HttpContext http, ApiRoute route)
    {
        using var request = new GatewayRequestContext(route, time.GetTimestamp());
        http.Features.Set(request);
        request.User = http.Features.Get<Auth.AuthenticatedUser>()?.Name;
        try
        {
            await RunAsync(http, request);
        }
        finally
        {
            request.Lease?.Dispose();
            ledger.Record(request);
            Log(http, request);
        }
    }

    private async Task RunAsync(HttpContext http, GatewayRequestContext request)
    {
        // 1. Read + normalize.
        if (!await bodyReader.ReadAndNormalizeAsync(http, request))
        {
            return;
        }

        // 2. Identify the conversation.
        request.Fingerprint = ConversationFingerprinter.Compute(request.Body!.WrittenSpan, request.Route);
        var session = http.Request.Headers[SessionHeader];
        request.SessionId = session.Count > 0 ? session[0] : null;
        if (request.Fingerprint is { } fingerprint && RequestClassifier.Classify(request.Route, fingerprint) == RequestKind.Conversation)
        {
            request.Conversation = conversations.Resolve(fingerprint, request.User, request.SessionId);
        }

        // 3-5. Choose an instance and slot, translate for it, forward. A connect failure (nothing sent, nothing
        // generated) may move on to the next instance; anything later may not, since it could replay a generation.
        var tried = 0;
        while (true)
        {
            request.Lease = await router.RouteAsync(request, request.Conversation, http.RequestAborted);
            if (request.Lease is null)
            {
                if (http.RequestAborted.IsCancellationRequested)
                {
                    request.Fail(ApiErrorKind.Internal, "client disconnected while queued");
                    return;
                }

                var message = request.FailureKind == ApiErrorKind.Overloaded
                    ? request.FailureMessage!
                    : $"No upstream can serve this request right now: {router.DescribeUnavailable(request.Route)}. See /status.";
                request.Fail(ApiErrorKind.Overloaded, message);
                await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.Overloaded, message, TimeSpan.FromSeconds(5));
                return;
            }

            var buildError = UpstreamRequestBuilder.Build(request);
            if (buildError is not null)
            {
                request.Fail(ApiErrorKind.InvalidRequest, buildError);
                await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.InvalidRequest, $"Invalid request body: {buildError}");
                return;
            }

            var outcome = await forwarder.ForwardAsync(http, request);
            if (outcome != ForwardOutcome.NotConnected)
            {
                return;
            }

            tried++;
            GatewayLog.RetryingElsewhere(logger, request.Lease.Instance.Name, request.FailureMessage ?? string.Empty);
            request.Lease.Dispose();
            request.Lease = null;
            request.UpstreamBody?.Dispose();
            request.UpstreamBody = null;
        }
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
            http.Response.StatusCode, elapsed, request.RequestBytes, request.ResponseBytes,
            request.Usage.PromptTokens, request.Usage.CachedTokens, request.Usage.OutputTokens, user);
    }
}
