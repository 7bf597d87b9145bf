using LlamaGateway.Metrics;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Auth;

internal static class AuthApplicationBuilderExtensions
{
    /// <summary>
    /// The middleware in front of the endpoints, in order: routing (each decision below is read from the matched
    /// endpoint's <see cref="Hosting.GatewayRoute"/>, never from the path), request metrics (so 401s and 429s are
    /// counted too), API keys, then the per-user cap (which needs to know the user). Logs whether the gateway is open.
    /// </summary>
    public static WebApplication UseGatewayAccess(this WebApplication app)
    {
        app.UseRouting();
        app.UseMiddleware<RequestMetricsMiddleware>();
        app.UseMiddleware<ApiKeyAuthenticationMiddleware>();
        app.UseRateLimiter();

        // Resolved once started: options are validated at start, and a bad key configuration must fail there.
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var keys = app.Services.GetRequiredService<ApiKeyStore>().Current;
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("LlamaGateway.Auth");
            if (keys.IsOpen)
            {
                GatewayLog.GatewayOpen(logger);
            }
            else
            {
                GatewayLog.KeysRequired(logger, keys.UserNames.Count, keys.HasAdminKey ? "need a user key (own rows) or the admin key (everything)" : "need a user key (own rows; no admin key configured)");
            }
        });
        return app;
    }
}
