namespace LlamaGateway.Translation;

/// <summary>What the gateway adds to a request bound for llama-server's OpenAI-compatible endpoints.</summary>
/// <param name="IdSlot">The slot to pin the request to, or null to let llama-server choose.</param>
/// <param name="MaxOutputTokens">Clamp for max_tokens (Claude Code asks for 128,000), or null for none.</param>
internal readonly record struct ChatRequestSettings(int? IdSlot, int? MaxOutputTokens);
