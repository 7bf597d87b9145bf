namespace LlamaGateway.Status;

// The /status.json document. Its schema is docs/status-schema.json: every property is always present (null when
// unknown), and a change here must change the schema too (a test validates real output against it).

/// <summary>One consistent look at the gateway, as /status.json serves it (schema version 1).</summary>
internal sealed record StatusDocument(
    int SchemaVersion,
    DateTimeOffset GeneratedAt,
    bool Open,
    string Isolation,
    StatusViewer Viewer,
    double UptimeSeconds,
    StatusTotals Totals,
    StatusLimits Limits,
    IReadOnlyList<StatusInstance> Instances,
    IReadOnlyList<StatusConversation> Conversations,
    IReadOnlyList<StatusUser> Users,
    StatusSideLane SideLane,
    IReadOnlyList<StatusError> RecentErrors,
    StatusSeries Series);

/// <summary>Whose view this is: full (admin or open gateway) or one user's rows plus aggregates.</summary>
internal sealed record StatusViewer(bool Full, string? User);

internal sealed record StatusTotals(
    long Requests,
    long Failures,
    long Cancelled,
    long PromptTokens,
    long CachedTokens,
    long RecomputedTokens,
    long OutputTokens,
    long SideRequests,
    double? CacheHitRatio,
    double SecondsSaved,
    int Conversations,
    int QueueLength,
    int Instances,
    int HealthyInstances,
    int Slots,
    int BusySlots);

internal sealed record StatusLimits(int MaxConcurrentRequestsPerUser, int QueueLimit, double QueueSeconds);

internal sealed record StatusInstance(
    string Name,
    string BaseUrl,
    string Dialect,
    bool Healthy,
    string? LastError,
    string? Model,
    int SlotCount,
    int BusySlots,
    int Queued,
    double PrefillTokensPerSecond,
    double AverageHoldSeconds,
    long PrefillPauses,
    double PrefillPausedSeconds,
    long ChunkedPrefills,
    long PrefillChunks,
    double ChunkYieldSeconds,
    StatusSlotSave? SlotSave,
    IReadOnlyList<StatusSlot> Slots);

/// <summary>Slot save/restore on one instance (<c>SlotSave</c> enabled); counters since start-up.</summary>
internal sealed record StatusSlotSave(
    bool Supported,
    string? UnsupportedReason,
    int Files,
    long BytesOnDisk,
    long MaxDiskBytes,
    long Saves,
    long SaveFailures,
    long BytesWritten,
    long Skipped,
    long Restores,
    long RestoreFailures,
    long TokensRestored,
    long BytesRead);

internal sealed record StatusSlot(
    int Index,
    bool SideLane,
    bool Busy,
    string? User,
    string? Conversation,
    int CachedTokens,
    double? IdleSeconds,
    DateTimeOffset? LastUsedAt,
    long Requests);

internal sealed record StatusConversation(
    string Id,
    string? User,
    string? Instance,
    int? Slot,
    int Turns,
    long PromptTokens,
    long CachedTokens,
    long RecomputedTokens,
    double? CacheHitRatio,
    double SecondsSaved,
    int Repins,
    double IdleSeconds);

internal sealed record StatusUser(
    string Name,
    long Requests,
    long Failures,
    long PromptTokens,
    long CachedTokens,
    long RecomputedTokens,
    long OutputTokens,
    long SideRequests,
    double? CacheHitRatio,
    double SecondsSaved,
    int Conversations,
    long? Active,
    long? Queued);

internal sealed record StatusSideLane(int Slots, int BusySlots, long Requests, long SideRequests);

internal sealed record StatusError(DateTimeOffset At, string Route, int Status, string Kind, string Message, string User, string? Upstream);

internal sealed record StatusSeries(double IntervalSeconds, double HistorySeconds, IReadOnlyList<StatusPoint> Points, StatusPoint Current);

internal sealed record StatusPoint(
    DateTimeOffset At,
    double Seconds,
    long Requests,
    long PromptTokens,
    long CachedTokens,
    long RecomputedTokens,
    long OutputTokens,
    double? CacheHitRatio);
