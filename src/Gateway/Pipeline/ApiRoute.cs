namespace LlamaGateway.Pipeline;

/// <summary>The model-serving routes the gateway forwards; each implies the shape of its JSON body.</summary>
internal enum ApiRoute
{
    /// <summary><c>POST /v1/messages</c>: Anthropic messages body.</summary>
    Messages,

    /// <summary><c>POST /v1/messages/count_tokens</c>: Anthropic messages body without max_tokens.</summary>
    CountTokens,

    /// <summary><c>POST /v1/chat/completions</c>: OpenAI chat body.</summary>
    ChatCompletions,

    /// <summary><c>POST /completion</c>: llama-server native body with a raw <c>prompt</c>.</summary>
    Completion,
}

internal static class ApiRouteExtensions
{
    public static ApiDialect ClientDialect(this ApiRoute route) => route switch
    {
        ApiRoute.Messages or ApiRoute.CountTokens => ApiDialect.Anthropic,
        _ => ApiDialect.OpenAi,
    };

    public static string Path(this ApiRoute route) => route switch
    {
        ApiRoute.Messages => "/v1/messages",
        ApiRoute.CountTokens => "/v1/messages/count_tokens",
        ApiRoute.ChatCompletions => "/v1/chat/completions",
        _ => "/completion",
    };
}
