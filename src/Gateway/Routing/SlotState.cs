using LlamaGateway.Conversations;

namespace LlamaGateway.Routing;

/// <summary>
/// What the gateway knows one llama-server slot holds: the chain of the last prompt sent there, its size, who it
/// belonged to, and whether a request is running on it. Guarded by the router's lock.
/// </summary>
internal sealed class SlotState(int index)
{
    public int Index { get; } = index;

    /// <summary>Reserved for side requests so they never evict a conversation's cache.</summary>
    public bool SideLane { get; set; }

    public bool Busy { get; set; }

    /// <summary>Timestamp (TimeProvider) the running request started, for expected-wait estimates.</summary>
    public long BusySince { get; set; }

    public string? BusyUser { get; set; }

    /// <summary>
    /// Timestamp (TimeProvider) until which the running request is expected to be processing its prompt (its estimated
    /// prefill and restore work from when it was placed); 0 when idle.
    /// </summary>
    public long PrefillUntil { get; set; }

    /// <summary>
    /// The running request was placed as a long prefill and its first output has not arrived yet (llama-server sends
    /// the first event of a stream only once the prompt is processed).
    /// </summary>
    public bool LongPrefill { get; set; }

    /// <summary>
    /// The running request has been placed and its first output has not arrived: llama-server is processing its
    /// prompt, or is about to (the request may still be in a slot save/restore or on its way).
    /// </summary>
    public bool Prefilling { get; set; }

    /// <summary>
    /// The running request's prompt goes to llama-server in chunks (<c>PrefillChunking/PrefillChunker</c>): it gives
    /// way to shorter prompts between its chunks, so they do not wait for it.
    /// </summary>
    public bool Chunked { get; set; }

    /// <summary>How shorter prompts placed above may pause the running long prefill; null when it cannot be paused.</summary>
    public PrefillPreemption? Preemption { get; set; }

    /// <summary>Prefix key and chain of the last prompt processed here; empty when nothing is known.</summary>
    public ulong PrefixKey { get; set; }

    public ulong[] Chain { get; set; } = [];

    public int[] ChainChars { get; set; } = [];

    public int PrefixChars { get; set; }

    /// <summary>Tokens of the last prompt (plus output) the slot's KV cache holds, as the upstream reported.</summary>
    public int CachedTokens { get; set; }

    public long LastUsed { get; set; }

    public string? ConversationId { get; set; }

    public string? User { get; set; }

    public long Requests { get; set; }

    public bool HoldsAnything => Chain.Length > 0 || PrefixKey != 0;

    public void Remember(ConversationFingerprint fingerprint, int cachedTokens, string? conversationId, string? user, long now)
    {
        PrefixKey = fingerprint.PrefixKey;
        Chain = fingerprint.Chain;
        ChainChars = fingerprint.ChainChars;
        PrefixChars = fingerprint.PrefixChars;
        CachedTokens = cachedTokens;
        ConversationId = conversationId;
        User = user;
        LastUsed = now;
    }

    /// <summary>A copy of what the slot holds, or null when nothing is known.</summary>
    public SlotContent? Capture() =>
        HoldsAnything ? new SlotContent(PrefixKey, Chain, ChainChars, PrefixChars, CachedTokens, ConversationId, User) : null;

    /// <summary>The slot now holds <paramref name="content"/> (restored from a saved slot file).</summary>
    public void Load(SlotContent content, long now)
    {
        PrefixKey = content.PrefixKey;
        Chain = content.Chain;
        ChainChars = content.ChainChars;
        PrefixChars = content.PrefixChars;
        CachedTokens = content.CachedTokens;
        ConversationId = content.ConversationId;
        User = content.User;
        LastUsed = now;
    }

    public void Forget()
    {
        PrefixKey = 0;
        Chain = [];
        ChainChars = [];
        PrefixChars = 0;
        CachedTokens = 0;
        ConversationId = null;
        User = null;
    }
}
