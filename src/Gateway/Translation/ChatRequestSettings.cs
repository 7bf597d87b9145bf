namespace LlamaGateway.Translation;

/// <summary>What the gateway adds to a request bound for llama-server's OpenAI-compatible endpoints.</summary>
/// <param name="IdSlot">The slot to pin the request to, or null to let llama-server choose.</param>
/// <param name="MaxOutputTokens">Clamp for max_tokens (Claude Code asks for 128,000), or null for none.</param>
/// <param name="IsolatePrompt">
/// Sends <c>cache_prompt: false</c>, so llama-server reuses nothing the slot holds and computes the whole prompt: a
/// request kept off another user's tokens (<c>Gateway:Isolation</c> PerUser). Otherwise <c>cache_prompt: true</c>.
/// </param>
internal readonly record struct ChatRequestSettings(int? IdSlot, int? MaxOutputTokens, bool IsolatePrompt = false);
