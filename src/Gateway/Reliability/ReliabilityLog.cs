namespace LlamaGateway.Reliability;

/// <summary>Log messages of health tracking, configuration reload and shutdown (event ids 100-199).</summary>
internal static partial class ReliabilityLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Warning,
        Message = "Upstream {Upstream} taken out of routing after {Failures} failed request(s) in a row: {Reason}")]
    public static partial void UpstreamFailing(ILogger logger, string upstream, int failures, string reason);

    [LoggerMessage(EventId = 101, Level = LogLevel.Debug, Message = "Upstream {Upstream} request failed ({Failures} in a row): {Reason}")]
    public static partial void UpstreamRequestFailed(ILogger logger, string upstream, int failures, string reason);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Circuit for the gateway's own calls to {Upstream} opened for {BreakSeconds:0.#} s: {Reason}")]
    public static partial void CircuitOpened(ILogger logger, string upstream, double breakSeconds, string reason);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Circuit for the gateway's own calls to {Upstream} closed")]
    public static partial void CircuitClosed(ILogger logger, string upstream);

    [LoggerMessage(EventId = 104, Level = LogLevel.Information, Message = "Conversation {Conversation} failed over from {From} to {To} slot {Slot}")]
    public static partial void FailedOver(ILogger logger, string conversation, string from, string to, int slot);

    [LoggerMessage(EventId = 110, Level = LogLevel.Information, Message = "Configuration reloaded: {Upstreams} upstream(s): {Names}")]
    public static partial void ConfigurationReloaded(ILogger logger, int upstreams, string names);

    [LoggerMessage(EventId = 111, Level = LogLevel.Error,
        Message = "Configuration change rejected, the last good configuration stays in force: {Errors}")]
    public static partial void ConfigurationRejected(ILogger logger, string errors);

    [LoggerMessage(EventId = 112, Level = LogLevel.Error,
        Message = "Configuration file {Path} could not be read, the last good configuration stays in force: {Reason}")]
    public static partial void ConfigurationFileUnreadable(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 114, Level = LogLevel.Warning,
        Message = "Configuration change refused, the last good configuration stays in force: {Reasons}")]
    public static partial void ConfigurationRefused(ILogger logger, string reasons);

    [LoggerMessage(EventId = 115, Level = LogLevel.Information, Message = "API keys reloaded: {Users} user(s){Names}; admin key {Admin}")]
    public static partial void KeysReloaded(ILogger logger, int users, string names, string admin);

    [LoggerMessage(EventId = 113, Level = LogLevel.Error, Message = "A configuration change listener failed")]
    public static partial void ConfigurationListenerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 120, Level = LogLevel.Information,
        Message = "Stopping: new connections refused; {InFlight} request(s) in flight get up to {DrainSeconds:0.#} s to finish (Gateway:Shutdown:DrainSeconds)")]
    public static partial void Draining(ILogger logger, int inFlight, double drainSeconds);

    [LoggerMessage(EventId = 121, Level = LogLevel.Warning,
        Message = "Drain time is over: ending {InFlight} request(s) still running with an error")]
    public static partial void DrainExpired(ILogger logger, int inFlight);

    [LoggerMessage(EventId = 130, Level = LogLevel.Error, Message = "{Method} {Route} failed inside the gateway")]
    public static partial void UnhandledFailure(ILogger logger, string method, string route, Exception exception);

    [LoggerMessage(EventId = 122, Level = LogLevel.Information,
        Message = "Upstream {Upstream} missed a health probe but is serving requests ({InFlight} in flight): kept in routing; {Reason}")]
    public static partial void ProbeTimedOutWhileBusy(ILogger logger, string upstream, int inFlight, string reason);

    [LoggerMessage(EventId = 123, Level = LogLevel.Debug,
        Message = "Upstream {Upstream} closed the connection before answering ({Reason}); sending the request again on a new connection")]
    public static partial void ClosedBeforeAnswer(ILogger logger, string upstream, string reason);
}
