using LlamaGateway.Errors;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Auth;

/// <summary>
/// Requires a user key when users are configured on every endpoint whose <see cref="GatewayRoute"/> does not say
/// otherwise (the model API, and anything routing did not match), and tells the pipeline who the caller is (the
/// <see cref="AuthenticatedUser"/> feature, used for accounting, fairness and the dashboard). Probes are public; the
/// dashboard and /metrics check keys themselves.
/// </summary>
internal sealed class ApiKeyAuthenticationMiddleware(RequestDelegate next, ApiKeyStore keys, ILogger<ApiKeyAuthenticationMiddleware> logger)
{
    public Task InvokeAsync(HttpContext http)
    {
        var route = GatewayRoute.Of(http);
        if (route.Access != RouteAccess.UserKey)
        {
            return next(http);
        }

        var keySet = keys.Current;
        if (keySet.IsOpen)
        {
            return next(http);
        }

        var presented = ApiKeyReader.Read(http.Request);
        var user = presented is null ? null : keySet.Authenticate(presented);

        // The admin key opens the dashboard and metrics; model use is accounted to people, so it needs a user key.
        if (user is null || user.IsAdmin)
        {
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
}
