namespace LlamaGateway.Routing;

/// <summary>Log messages of routing (event ids 240-249). The request's own log line says where it went and why.</summary>
internal static partial class RoutingLog
{
    [LoggerMessage(EventId = 240, Level = LogLevel.Warning,
        Message = "Gateway:Isolation changed to {Requested} in the configuration; the gateway keeps {Mode} until it restarts (what slots and saved states hold was decided under it)")]
    public static partial void IsolationChangeIgnored(ILogger logger, string requested, string mode);
}
