using LlamaGateway.Auth;

namespace LlamaGateway.Metrics;

/// <summary><c>GET /metrics</c> for Prometheus: open when no key is configured, else for the admin key only.</summary>
internal static class MetricsEndpoint
{
    public static async Task HandleAsync(HttpContext http, ApiKeyStore keys, MetricsExporter exporter)
    {
        var viewer = DashboardAccess.Authorize(http.Request, keys.Current, out var denial);
        http.Response.Headers.CacheControl = "no-store";
        if (viewer is null || !viewer.Full)
        {
            // Metrics carry every user's numbers, so a user key is not enough; Prometheus shows this text on the target.
            http.Response.StatusCode = viewer is null ? StatusCodes.Status401Unauthorized : StatusCodes.Status403Forbidden;
            http.Response.ContentType = "text/plain; charset=utf-8";
            if (viewer is null)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
            }

            await http.Response.WriteAsync(viewer is null ? denial! : "/metrics needs the admin key (Gateway:AdminApiKey); a user key shows only /status.", http.RequestAborted);
            return;
        }

        http.Response.ContentType = PrometheusWriter.ContentType;
        await http.Response.WriteAsync(exporter.Render(), http.RequestAborted);
    }
}
