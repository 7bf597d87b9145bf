namespace LlamaGateway.PrefillChunking;

/// <summary>Log messages of prefill chunking (event ids 220-229). The request's own log line says how it was chunked.</summary>
internal static partial class PrefillChunkingLog
{
    [LoggerMessage(EventId = 220, Level = LogLevel.Warning,
        Message = "Prefill chunking is off for upstream {Upstream} until the gateway restarts: {Reason}")]
    public static partial void TurnedOff(ILogger logger, string upstream, string reason);

    [LoggerMessage(EventId = 221, Level = LogLevel.Warning,
        Message = "Prefill chunking of a request on slot {Slot} of {Upstream} stopped after {Chunks} chunks; the rest of its prompt goes with the request itself: {Reason}")]
    public static partial void Stopped(ILogger logger, int slot, string upstream, int chunks, string reason);

    [LoggerMessage(EventId = 222, Level = LogLevel.Debug,
        Message = "Prefilled {Tokens} tokens on slot {Slot} of {Upstream} in {Chunks} chunks ({Milliseconds:0} ms of prefill), giving way to shorter prompts for {YieldedMilliseconds:0} ms")]
    public static partial void Prefilled(ILogger logger, int tokens, int slot, string upstream, int chunks, double milliseconds, double yieldedMilliseconds);
}
