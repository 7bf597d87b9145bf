using LlamaGateway.Auth;
using LlamaGateway.Hosting;
using LlamaGateway.Usage;

namespace LlamaGateway.Metrics;

/// <summary>
/// Counts and times every request to a keyed endpoint, whatever answered it (the pipeline, a 401, a 429, a 404),
/// under the matched endpoint's label (<see cref="GatewayRoute"/>). Outermost of the gateway's middleware, so the
/// duration includes the per-user queue wait.
/// </summary>
internal sealed class RequestMetricsMiddleware(RequestDelegate next, RequestMetrics metrics, TimeProvider time)
{
    public async Task InvokeAsync(HttpContext http)
    {
        var route = GatewayRoute.Of(http);
        if (!route.Metered)
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
            metrics.Record(route.Label, status, user, time.GetElapsedTime(started).TotalSeconds);
        }
    }
}
