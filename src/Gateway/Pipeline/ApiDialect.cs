namespace LlamaGateway.Pipeline;

/// <summary>The API family a request or upstream speaks; decides error formats and whether translation is needed.</summary>
internal enum ApiDialect
{
    /// <summary>Anthropic Messages API (<c>/v1/messages</c>), what Claude Code speaks.</summary>
    Anthropic,

    /// <summary>OpenAI-compatible API as llama-server implements it (<c>/v1/chat/completions</c>, <c>/completion</c>).</summary>
    OpenAi,
}
