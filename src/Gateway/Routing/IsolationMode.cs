namespace LlamaGateway.Routing;

/// <summary>
/// <c>Gateway:Isolation</c>: whose cached prompt tokens a request may reuse. Conversations, session ids and saved
/// slot states belong to one identity (the user, or when the gateway is open the Claude Code installation, else the
/// session) in both modes; the modes differ only in cache reuse.
/// </summary>
internal enum IsolationMode
{
    /// <summary>
    /// Users share cached prefixes (above all Claude Code's system prompt and tools): a new conversation may be placed
    /// on a slot, or restore a saved state, whose prefix another user computed (default).
    /// </summary>
    Shared,

    /// <summary>
    /// A request reuses only its own identity's slots and saved states: it is never placed on another user's slot for
    /// its prefix, never restores another user's state, and wherever llama-server could reuse tokens it does not own
    /// it is sent with <c>cache_prompt: false</c>, so its time to first token says nothing about other users' prompts.
    /// </summary>
    PerUser,
}
