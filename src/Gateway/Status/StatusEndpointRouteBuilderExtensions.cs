using LlamaGateway.Hosting;
using LlamaGateway.Metrics;

namespace LlamaGateway.Status;

internal static class StatusEndpointRouteBuilderExtensions
{
    // Each checks the caller's key itself: a user key sees that user's rows, the admin key everything.
    private static readonly GatewayRoute Dashboard = new("dashboard", RouteAccess.OwnKeys, UserLimitPolicy.None, Dialect: null);

    /// <summary>The dashboard (<c>/status</c>), its data (<c>/status.json</c>) and Prometheus metrics (<c>/metrics</c>).</summary>
    public static IEndpointRouteBuilder MapGatewayStatus(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/status", DashboardPage.WriteAsync).WithMetadata(Dashboard);
        endpoints.MapGet("/status.json", StatusJsonEndpoint.HandleAsync).WithMetadata(Dashboard);
        endpoints.MapGet("/metrics", MetricsEndpoint.HandleAsync).WithMetadata(Dashboard);
        return endpoints;
    }
}
