namespace LlamaGateway.Routing;

/// <summary><c>Gateway:Routing</c>: how conversations are pinned to slots.</summary>
internal sealed class RoutingOptions
{
    /// <summary>Slots per instance reserved for side requests (quota probes, titles, short tool-less requests).
    /// Default: one on instances with 8 or more slots, none on smaller ones (there a side request shares a conversation slot, whose state llama-server saves to its RAM cache and restores).</summary>
    public int? SideLaneSlots { get; set; }

    /// <summary>Most slots one user may hold at once, so one user's burst cannot take every slot.
    /// Default: half the main slots in the pool, rounded up.</summary>
    public int? MaxSlotsPerUser { get; set; }

    /// <summary>A request whose prompt is expected to need more than this many seconds of prefill (what its slot cannot
    /// reuse, at the instance's measured speed) counts as a long prefill.</summary>
    public double LongPrefillSeconds { get; set; } = 4;

    /// <summary>Long prefills that may run at once on one instance; the rest wait in the gateway's queue while shorter
    /// work takes the free slots. Default: one per 4 main slots, at least one.</summary>
    public int? MaxLongPrefillsPerInstance { get; set; }

    /// <summary>Whether a short prompt placed above a long prefill on the same instance pauses it (cancels its upstream
    /// call, which keeps what it processed, and sends it again once the short prompt is processed): llama-server fills
    /// batches slot by slot in index order, so otherwise the short prompt waits for the whole long one.
    /// Off by default: in the cache bench it made follow-up turns faster and new conversations' first turns slower,
    /// with no clear gain over all turns.</summary>
    public bool PreemptLongPrefills { get; set; }

    /// <summary>
    /// Seconds of prefill per chunk when a long prompt is prefilled in chunks (<c>PrefillChunking/PrefillChunker</c>):
    /// a prompt with two chunks' worth to compute or more (four while no other slot is busy) goes to llama-server in
    /// pieces of about this much work, and before each piece waits while shorter prompts on other slots of the instance
    /// are processed, so a follow-up turn waits for one piece of a new conversation's prompt instead of all of it.
    /// 0 turns it off. Off in code, on (0.5) in the shipped appsettings.json; <see cref="PreemptLongPrefills"/>, when on, replaces it.
    /// </summary>
    public double PrefillChunkSeconds { get; set; }

    /// <summary>Longest a request waits in the gateway's queue for a slot before a 503 (seconds).</summary>
    public double MaxQueueSeconds { get; set; } = 300;

    /// <summary>Conversations tracked at most (size limit of the conversation table).</summary>
    public int MaxConversations { get; set; } = 10_000;

    /// <summary>A conversation not seen for this long is forgotten (sliding expiry, minutes).</summary>
    public double ConversationIdleMinutes { get; set; } = 240;

    /// <summary>Prefill speed assumed for an instance until it reports its own (tokens/s).</summary>
    public double DefaultPrefillTokensPerSecond { get; set; } = 1000;

    /// <summary>How quickly an idle slot's cached conversation loses value: after this many minutes it is
    /// worth half as much when weighing whether to evict it.</summary>
    public double CacheValueHalfLifeMinutes { get; set; } = 15;
}
