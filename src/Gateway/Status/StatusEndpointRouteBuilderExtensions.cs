using LlamaGateway.Metrics;

namespace LlamaGateway.Status;

internal static class StatusEndpointRouteBuilderExtensions
{
    /// <summary>The dashboard (<c>/status</c>), its data (<c>/status.json</c>) and Prometheus metrics (<c>/metrics</c>).</summary>
    public static IEndpointRouteBuilder MapGatewayStatus(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/status", DashboardPage.WriteAsync);
        endpoints.MapGet("/status.json", StatusJsonEndpoint.HandleAsync);
        endpoints.MapGet("/metrics", MetricsEndpoint.HandleAsync);
        return endpoints;
    }
}
