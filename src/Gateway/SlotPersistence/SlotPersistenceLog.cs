namespace LlamaGateway.SlotPersistence;

/// <summary>Log messages of slot save/restore (event ids 200-219). Successes are Debug: the request's own log line says "+saved" / "+restored".</summary>
internal static partial class SlotPersistenceLog
{
    [LoggerMessage(EventId = 200, Level = LogLevel.Debug,
        Message = "Saved slot {Slot} of {Upstream} ({Tokens} tokens of conversation {Conversation}) to {File}: {Bytes} B in {Milliseconds:0} ms")]
    public static partial void Saved(ILogger logger, int slot, string upstream, int tokens, string conversation, string file, long bytes, double milliseconds);

    [LoggerMessage(EventId = 201, Level = LogLevel.Warning,
        Message = "Could not save slot {Slot} of {Upstream} (conversation {Conversation}) to {File}; the request goes on without it: {Outcome}: {Detail}")]
    public static partial void SaveFailed(ILogger logger, int slot, string upstream, string conversation, string file, SlotActionOutcome outcome, string detail);

    [LoggerMessage(EventId = 202, Level = LogLevel.Debug, Message = "Not saving slot {Slot} of {Upstream} (conversation {Conversation}, {Tokens} tokens): {Reason}")]
    public static partial void SaveSkipped(ILogger logger, int slot, string upstream, string conversation, int tokens, string reason);

    [LoggerMessage(EventId = 203, Level = LogLevel.Debug,
        Message = "Restored {File} ({Tokens} tokens of conversation {Conversation}) into slot {Slot} of {Upstream}: {Bytes} B in {Milliseconds:0} ms")]
    public static partial void Restored(ILogger logger, string file, int tokens, string conversation, int slot, string upstream, long bytes, double milliseconds);

    [LoggerMessage(EventId = 204, Level = LogLevel.Warning,
        Message = "Could not restore {File} into slot {Slot} of {Upstream}; the request's prompt is computed from scratch: {Outcome}: {Detail}")]
    public static partial void RestoreFailed(ILogger logger, string file, int slot, string upstream, SlotActionOutcome outcome, string detail);

    [LoggerMessage(EventId = 205, Level = LogLevel.Warning,
        Message = "Upstream {Upstream} cannot save slots ({Detail}); slot save/restore is off for it until it restarts. Start llama-server with --slot-save-path DIR, or turn SlotSave:Enabled off for it")]
    public static partial void Unsupported(ILogger logger, string upstream, string detail);
}
