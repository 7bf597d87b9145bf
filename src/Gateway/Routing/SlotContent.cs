namespace LlamaGateway.Routing;

/// <summary>
/// An immutable copy of what one slot holds (or a saved slot file holds): the prompt's prefix key and chain, its size
/// in tokens and whose conversation it was. Copied out of <see cref="SlotState"/> so the slot save/restore stage can
/// work on it without the router's lock; the arrays are shared, which is safe because a slot's arrays are replaced,
/// never changed in place.
/// </summary>
internal sealed record SlotContent(ulong PrefixKey, ulong[] Chain, int[] ChainChars, int PrefixChars, int CachedTokens, string? ConversationId, string? User)
{
    /// <summary>Whether both hold the same prompt: the chain is a hash chain, so equal last links mean equal prompts.</summary>
    public bool SamePromptAs(SlotContent other) =>
        PrefixKey == other.PrefixKey && Chain.Length == other.Chain.Length && (Chain.Length == 0 || Chain[^1] == other.Chain[^1]);
}
