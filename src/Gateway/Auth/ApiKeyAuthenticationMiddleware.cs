using LlamaGateway.Errors;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Auth;

/// <summary>
/// Requires a user key when users are configured on every endpoint whose <see cref="GatewayRoute"/> does not say
/// otherwise (the model API, and anything routing did not match), and tells the pipeline who the caller is (the
/// <see cref="AuthenticatedUser"/> feature, used for accounting, fairness and the dashboard). Probes are public; the
/// dashboard and /metrics check keys themselves. Wrong keys count towards the caller address's limit
/// (<see cref="FailedKeyAttempts"/>) on every endpoint that takes a key.
/// </summary>
internal sealed class ApiKeyAuthenticationMiddleware(RequestDelegate next, ApiKeyStore keys, FailedKeyAttempts failures, ILogger<ApiKeyAuthenticationMiddleware> logger)
{
    public Task InvokeAsync(HttpContext http)
    {
        var route = GatewayRoute.Of(http);
        if (route.Access == RouteAccess.Public)
        {
            return next(http);
        }

        var keySet = keys.Current;
        if (route.Access == RouteAccess.OwnKeys)
        {
            // The endpoint answers a missing or wrong key itself; a wrong one still counts here, so the dashboard
            // is no way around the limit.
            return keySet.HasAnyKey && ApiKeyReader.Read(http.Request) is { } shown && keySet.Authenticate(shown) is null && failures.Fail(http.Connection.RemoteIpAddress) is { } locked
                ? RejectLockedOutAsync(http, route, locked)
                : next(http);
        }

        if (keySet.IsOpen)
        {
            return next(http);
        }

        var presented = ApiKeyReader.Read(http.Request);
        var user = presented is null ? null : keySet.Authenticate(presented);

        // The admin key opens the dashboard and metrics; model use is accounted to people, so it needs a user key.
        if (user is null || user.IsAdmin)
        {
            // Only a wrong key is a guess: a missing one (a client not set up yet) or the admin key is answered 401.
            if (presented is not null && user is null && failures.Fail(http.Connection.RemoteIpAddress) is { } retryAfter)
            {
                return RejectLockedOutAsync(http, route, retryAfter);
            }

            return RejectAsync(http, route, presented is null);
        }

        http.Features.Set(user);
        return next(http);
    }

    private Task RejectAsync(HttpContext http, GatewayRoute route, bool missing)
    {
        GatewayLog.AuthenticationFailed(logger, http.Request.Method, route.Label, missing ? "no key" : "unknown key", http.Connection.RemoteIpAddress?.ToString() ?? "-");
        http.Response.Headers.WWWAuthenticate = "Bearer";
        var message = missing
            ? "This gateway requires an API key: send it as x-api-key or Authorization: Bearer (for Claude Code, set ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN)."
            : "Invalid API key for this gateway; ask the gateway's admin for your key.";
        return ApiErrorWriter.WriteAsync(http, route.DialectOf(http.Request), ApiErrorKind.Authentication, message);
    }

    // Not logged per request (FailedKeyAttempts logs once per window): a guesser would flood the log.
    private static Task RejectLockedOutAsync(HttpContext http, GatewayRoute route, TimeSpan retryAfter) =>
        ApiErrorWriter.WriteAsync(http, route.DialectOf(http.Request), ApiErrorKind.RateLimited,
            $"Too many wrong API keys from this address (Gateway:Limits:MaxFailedKeyAttempts); retry after {Math.Ceiling(retryAfter.TotalSeconds):0} s with a valid key.", retryAfter);
}
