using LlamaGateway.Pipeline;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Routing;

/// <summary>Chooses the (instance, slot) for a request.</summary>
internal sealed class SlotRouter(UpstreamRegistry registry)
{
    private int _next;

    /// <summary>Returns a lease, or null when no healthy instance can serve the route.</summary>
    public ValueTask<RoutingLease?> RouteAsync(GatewayRequestContext request, CancellationToken cancellationToken)
    {
        var instances = registry.Instances;
        var start = Interlocked.Increment(ref _next);
        for (var i = 0; i < instances.Count; i++)
        {
            var instance = instances[(int)((uint)(start + i) % (uint)instances.Count)];
            if (instance.IsHealthy && CanServe(instance, request.Route))
            {
                return ValueTask.FromResult<RoutingLease?>(new RoutingLease(instance, null, "round-robin", null));
            }
        }

        return ValueTask.FromResult<RoutingLease?>(null);
    }

    /// <summary>Why no instance can take a request: each instance's state, for the 503 message.</summary>
    public string DescribeUnavailable(ApiRoute route)
    {
        var instances = registry.Instances;
        var parts = new List<string>(instances.Count);
        foreach (var instance in instances)
        {
            var state = !CanServe(instance, route) ? "speaks only the Anthropic dialect"
                : instance.IsHealthy ? "busy" : instance.LastError ?? "unhealthy";
            parts.Add($"'{instance.Name}' ({instance.DestinationPrefix}): {state}");
        }

        return string.Join("; ", parts);
    }

    /// <summary>An Anthropic-dialect upstream cannot answer OpenAI-dialect routes; the reverse is translated.</summary>
    public static bool CanServe(UpstreamInstance instance, ApiRoute route) =>
        instance.Dialect == ApiDialect.OpenAi || route.ClientDialect() == ApiDialect.Anthropic;
}
