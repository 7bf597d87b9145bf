namespace LlamaGateway.Conversations;

/// <summary>
/// One tracked conversation: where it is pinned and what it has cost and saved. Small on purpose (no chains), so
/// ten thousand of them fit in a few megabytes. Mutated under the router's lock; counters read racily for display.
/// </summary>
internal sealed class ConversationRecord(string id, ulong prefixKey, string? user, string? sessionId, long created)
{
    public string Id { get; } = id;

    public ulong PrefixKey { get; } = prefixKey;

    public string? User { get; } = user;

    public string? SessionId { get; } = sessionId;

    public long Created { get; } = created;

    /// <summary>Hash of the newest prompt seen (the chain's last link); the next turn's chain contains it.</summary>
    public ulong Tip { get; set; }

    public int ChainLength { get; set; }

    public long LastSeen { get; set; }

    /// <summary>The (instance, slot) the conversation is pinned to; null until its first turn is routed.</summary>
    public string? Instance { get; set; }

    public int Slot { get; set; } = -1;

    public int Turns { get; set; }

    public int Repins { get; set; }

    public long PromptTokens { get; set; }

    public long CachedTokens { get; set; }

    public long RecomputedTokens { get; set; }

    public double SecondsSaved { get; set; }

    public double CacheHitRatio => PromptTokens <= 0 ? 0 : (double)CachedTokens / PromptTokens;
}
