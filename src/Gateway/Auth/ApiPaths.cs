using LlamaGateway.Pipeline;

namespace LlamaGateway.Auth;

/// <summary>Which paths are the model API (keyed, limited, metered) and which dialect their errors use.</summary>
internal static class ApiPaths
{
    /// <summary>Every API route: <c>/v1/*</c> and llama-server's native <c>/completion</c>.</summary>
    public static bool IsApi(PathString path) => path.StartsWithSegments("/v1") || path.Equals("/completion", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Routes that generate on an upstream slot: the ones the per-user cap applies to. count_tokens is left out: it
    /// holds no slot, takes milliseconds, and Claude Code sends bursts of 40+ at start-up that must not turn into 429s.
    /// </summary>
    public static bool IsCappedRoute(PathString path) =>
        path.Equals("/v1/messages", StringComparison.OrdinalIgnoreCase)
        || path.Equals("/v1/chat/completions", StringComparison.OrdinalIgnoreCase)
        || path.Equals("/completion", StringComparison.OrdinalIgnoreCase);

    /// <summary>The dialect an error on this request must be written in, so the client can show its message.</summary>
    public static ApiDialect Dialect(HttpRequest request)
    {
        var path = request.Path;
        if (path.StartsWithSegments("/v1/messages"))
        {
            return ApiDialect.Anthropic;
        }

        if (path.StartsWithSegments("/v1/chat") || path.Equals("/completion", StringComparison.OrdinalIgnoreCase))
        {
            return ApiDialect.OpenAi;
        }

        return request.Headers.ContainsKey("anthropic-version") ? ApiDialect.Anthropic : ApiDialect.OpenAi;
    }

    /// <summary>A bounded label for metrics: known routes by path, anything else as "other".</summary>
    public static string RouteLabel(PathString path)
    {
        foreach (var known in KnownRoutes)
        {
            if (path.Equals(known, StringComparison.OrdinalIgnoreCase))
            {
                return known;
            }
        }

        return "other";
    }

    public static IReadOnlyList<string> KnownRoutes { get; } =
        [ApiRoute.Messages.Path(), ApiRoute.CountTokens.Path(), ApiRoute.ChatCompletions.Path(), ApiRoute.Completion.Path(), "/v1/models"];
}
