namespace LlamaGateway.Conversations;

/// <summary>
/// Canonical identity of a request's prompt: a hash of the system prompt and tools (the prefix key), then a hash chain
/// with one link per message, so a later turn of the same conversation extends an earlier one's chain.
/// Hashes are over canonical content (role, block type, text/tool fields), never raw bytes or cache_control.
/// Per route: Anthropic bodies chain every message of <c>messages</c>; ChatCompletions bodies put their leading
/// system/developer messages into the prefix key and chain the messages after them; raw <c>/completion</c> prompts
/// have no messages, so the prefix key is the first 1024 UTF-16 characters and each further full 1024-character chunk
/// adds a link (a partial last chunk adds none). Digests are XXH64 and stable across processes and machines.
/// </summary>
internal sealed class ConversationFingerprint
{
    /// <summary>Hash of the normalized system prompt and tool definitions.</summary>
    public required ulong PrefixKey { get; init; }

    /// <summary><c>Chain[i]</c> is the hash of the prefix plus messages 0..i.</summary>
    public required ulong[] Chain { get; init; }

    /// <summary>Approximate prompt size in characters of canonical text (used before token counts are known).</summary>
    public required int PromptChars { get; init; }

    /// <summary>Number of tool definitions in the request.</summary>
    public required int ToolCount { get; init; }

    /// <summary>The model name the client asked for (empty when absent).</summary>
    public required string Model { get; init; }

    /// <summary>The request's max_tokens (or max_completion_tokens / n_predict), -1 when absent.</summary>
    public required int MaxTokens { get; init; }

    /// <summary>Canonical characters of the system prompt and tools (what the prefix key covers).</summary>
    public int PrefixChars { get; init; }

    /// <summary><c>ChainChars[i]</c>: canonical characters up to and including message i (prefix included), so the
    /// router can estimate how many tokens a slot holding a shorter chain can reuse.</summary>
    public int[] ChainChars { get; init; } = [];
    /// <summary>
    /// Characters of the system prompt (Anthropic <c>system</c>, or the leading system/developer messages of a chat
    /// body). Side requests (titles, topics, subagents) have short or different system prompts.
    /// </summary>
    public int SystemChars { get; init; }

    /// <summary>
    /// The last message is a user message whose whole content is the text <c>quota</c>: Claude Code's start-up probe
    /// (<c>max_tokens: 1</c>), which should not evict a warm slot.
    /// </summary>
    public bool LastUserMessageIsQuotaProbe { get; init; }

    /// <summary>Hash of everything up to and including the last message (the prefix key when there are none).</summary>
    public ulong Tip => Chain.Length == 0 ? PrefixKey : Chain[^1];
}
