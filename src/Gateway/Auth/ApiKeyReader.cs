namespace LlamaGateway.Auth;

/// <summary>Reads the caller's key: Claude Code sends ANTHROPIC_API_KEY as x-api-key, ANTHROPIC_AUTH_TOKEN as a bearer token.</summary>
internal static class ApiKeyReader
{
    public static string? Read(HttpRequest request)
    {
        var apiKey = request.Headers["x-api-key"];
        if (apiKey.Count > 0 && !string.IsNullOrWhiteSpace(apiKey[0]))
        {
            return apiKey[0]!.Trim();
        }

        var authorization = request.Headers.Authorization;
        if (authorization.Count > 0 && authorization[0] is { } value)
        {
            var span = value.AsSpan().Trim();
            if (span.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                var token = span["Bearer ".Length..].Trim();
                return token.IsEmpty ? null : token.ToString();
            }
        }

        return null;
    }
}
