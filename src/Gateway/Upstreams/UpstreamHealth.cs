using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Reliability;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Upstreams;

/// <summary>
/// The one place instance health changes, from probes (active) and from what real requests meet (passive), so every
/// transition is logged once and the monitor hears of instances that went down between its probes.
/// </summary>
internal sealed class UpstreamHealth(IOptionsMonitor<GatewayOptions> options, ILogger<UpstreamHealth> logger)
{
    /// <summary>Raised when an instance is taken out of routing, so it is probed on the short schedule from now.</summary>
    public event Action<UpstreamInstance>? WentDown;

    /// <summary>The upstream answered a request properly (any status below 500, or a stream that completed).</summary>
    public void RequestSucceeded(UpstreamInstance instance) => instance.RecordSuccess();

    /// <summary>
    /// A request failed on the upstream's side after reaching it (HTTP 5xx, a broken, stalled or cut-short stream, a
    /// timeout); enough of them in a row take the instance out of routing.
    /// </summary>
    public void RequestFailed(UpstreamInstance instance, string reason)
    {
        var (failures, tookOut) = instance.RecordFailure(reason, options.CurrentValue.Health.FailureThreshold);
        if (tookOut)
        {
            ReliabilityLog.UpstreamFailing(logger, instance.Name, failures, reason);
            WentDown?.Invoke(instance);
        }
        else
        {
            ReliabilityLog.UpstreamRequestFailed(logger, instance.Name, failures, reason);
        }
    }

    /// <summary>Nothing could connect: out of routing at once (no request can succeed there).</summary>
    public void Unreachable(UpstreamInstance instance, string reason)
    {
        if (instance.MarkUnhealthy(reason))
        {
            GatewayLog.UpstreamUnavailable(logger, instance.Name, instance.DestinationPrefix, reason);
            WentDown?.Invoke(instance);
        }
    }

    public void ProbeSucceeded(UpstreamInstance instance)
    {
        if (instance.MarkHealthy())
        {
            GatewayLog.UpstreamRecovered(logger, instance.Name);
        }
    }

    public void ProbeFailed(UpstreamInstance instance, string reason)
    {
        if (instance.MarkUnhealthy(reason))
        {
            GatewayLog.UpstreamUnavailable(logger, instance.Name, instance.DestinationPrefix, reason);
            WentDown?.Invoke(instance);
        }
    }
}
