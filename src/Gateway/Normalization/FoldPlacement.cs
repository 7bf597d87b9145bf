namespace LlamaGateway.Normalization;

/// <summary>Where a folded system message's reminder block goes.</summary>
internal enum FoldPlacement : byte
{
    /// <summary>At the end of the preceding user message's content.</summary>
    AppendToPreceding,

    /// <summary>At the start of the following user message's content.</summary>
    PrependToFollowing,

    /// <summary>No user neighbour: the system message itself becomes a user message holding the block.</summary>
    OwnUserMessage,
}
