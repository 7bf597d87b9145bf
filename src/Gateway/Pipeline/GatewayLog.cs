namespace LlamaGateway.Pipeline;

/// <summary>Source-generated structured log messages. Never log keys or bodies.</summary>
internal static partial class GatewayLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "{Method} {Route} -> {Upstream} slot {Slot} ({Reason}) {Status} in {DurationMs:0.0} ms ({Waited}); {RequestBytes} B in, {ResponseBytes} B out; prompt {PromptTokens}, cached {CachedTokens}, output {OutputTokens} tokens; user {User}")]
    public static partial void RequestCompleted(ILogger logger, string method, string route, string upstream, string slot, string reason, int status,
        double durationMs, string waited, long requestBytes, long responseBytes, int promptTokens, int cachedTokens, int outputTokens, string user);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
        Message = "{Method} {Route} -> {Upstream} failed after {DurationMs:0.0} ms: {Failure} ({Kind}); user {User}")]
    public static partial void RequestFailed(ILogger logger, string method, string route, string upstream, double durationMs, string failure, string kind, string user);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Upstream {Upstream} is unreachable, trying another instance: {Reason}")]
    public static partial void RetryingElsewhere(ILogger logger, string upstream, string reason);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Upstream {Upstream} at {BaseUrl}: {Slots} slots ({Dialect} dialect), model {Model}")]
    public static partial void UpstreamDiscovered(ILogger logger, string upstream, string baseUrl, int slots, string dialect, string model);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "Upstream {Upstream} at {BaseUrl} is not answering: {Reason}")]
    public static partial void UpstreamUnavailable(ILogger logger, string upstream, string baseUrl, string reason);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "Upstream {Upstream} is healthy again")]
    public static partial void UpstreamRecovered(ILogger logger, string upstream);

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning,
        Message = "No users are configured (Gateway:Users): the gateway is OPEN, anyone who can reach it can use it")]
    public static partial void GatewayOpen(ILogger logger);

    [LoggerMessage(EventId = 21, Level = LogLevel.Information, Message = "Gateway listening; {Count} upstream(s): {Upstreams}")]
    public static partial void Started(ILogger logger, int count, string upstreams);

    [LoggerMessage(EventId = 30, Level = LogLevel.Information,
        Message = "API keys required: {Users} user(s) configured; dashboard and /metrics {Dashboard}")]
    public static partial void KeysRequired(ILogger logger, int users, string dashboard);

    [LoggerMessage(EventId = 31, Level = LogLevel.Information, Message = "{Method} {Route} rejected with 401 ({Reason}) from {Remote}")]
    public static partial void AuthenticationFailed(ILogger logger, string method, string route, string reason, string remote);

    [LoggerMessage(EventId = 32, Level = LogLevel.Warning, Message = "{Method} {Route} rejected with 429 for user {User}: {Reason}")]
    public static partial void UserLimited(ILogger logger, string method, string route, string user, string reason);

    [LoggerMessage(EventId = 33, Level = LogLevel.Warning,
        Message = "{Remote} sent more than {Limit} wrong API keys within {WindowSeconds} s (Gateway:Limits:MaxFailedKeyAttempts); its wrong keys get 429 for the next {LeftSeconds} s, valid keys still work")]
    public static partial void FailedKeysLimited(ILogger logger, string remote, int limit, double windowSeconds, double leftSeconds);
}
