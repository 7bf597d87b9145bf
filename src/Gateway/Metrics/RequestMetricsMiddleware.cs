using LlamaGateway.Auth;
using LlamaGateway.Usage;

namespace LlamaGateway.Metrics;

/// <summary>
/// Counts and times every API request, whatever answered it (the pipeline, a 401, a 429, the 404 fallback).
/// Outermost of the gateway's middleware, so the duration includes the per-user queue wait.
/// </summary>
internal sealed class RequestMetricsMiddleware(RequestDelegate next, RequestMetrics metrics, TimeProvider time)
{
    public async Task InvokeAsync(HttpContext http)
    {
        if (!ApiPaths.IsApi(http.Request.Path))
        {
            await next(http);
            return;
        }

        var started = time.GetTimestamp();
        var failed = false;
        try
        {
            await next(http);
        }
        catch
        {
            failed = true;
            throw;
        }
        finally
        {
            // Read after the fact: authentication, further in, sets the user.
            var user = http.Features.Get<AuthenticatedUser>()?.Name ?? UsageLedger.AnonymousUser;
            var status = failed && !http.Response.HasStarted ? StatusCodes.Status500InternalServerError : http.Response.StatusCode;
            metrics.Record(ApiPaths.RouteLabel(http.Request.Path), status, user, time.GetElapsedTime(started).TotalSeconds);
        }
    }
}
