namespace LlamaGateway.Conversations;

/// <summary>
/// One tracked conversation: where it is pinned and what it has cost and saved. Small on purpose (no chains), so
/// ten thousand of them fit in a few megabytes. Mutated under the router's lock; counters read racily for display.
/// </summary>
internal sealed class ConversationRecord(string id, ulong prefixKey, string? owner, string? user, string? sessionId, long created)
{
    public string Id { get; } = id;

    public ulong PrefixKey { get; } = prefixKey;

    /// <summary>
    /// The identity the conversation belongs to (the request's <c>ClientIdentity</c>: the user, or when the gateway is
    /// open the Claude Code installation, else the session); only that identity's requests find it.
    /// </summary>
    public string? Owner { get; } = owner;

    /// <summary>The configured user (null when the gateway is open), for per-user views.</summary>
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

    /// <summary>Moves to another slot chosen for cache or load reasons (not counting failovers).</summary>
    public int Repins { get; set; }

    /// <summary>Moves to another instance because the one it was pinned to was down or removed from configuration.</summary>
    public int Failovers { get; set; }

    public long PromptTokens { get; set; }

    public long CachedTokens { get; set; }

    public long RecomputedTokens { get; set; }

    public double SecondsSaved { get; set; }

    public double CacheHitRatio => PromptTokens <= 0 ? 0 : (double)CachedTokens / PromptTokens;

    /// <summary>The table's place for it in its owner's recency order; the table's lock guards both.</summary>
    internal LinkedListNode<ConversationRecord>? OwnerNode { get; set; }

    /// <summary>The table's place for it in the recency order of all conversations.</summary>
    internal LinkedListNode<ConversationRecord>? TableNode { get; set; }
}
