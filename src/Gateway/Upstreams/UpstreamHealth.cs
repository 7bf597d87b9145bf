using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Reliability;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Upstreams;

/// <summary>
/// The one place instance health changes, from probes (active) and from what real requests meet (passive), so every
/// transition is logged once and the monitor hears of instances that went down between its probes.
/// </summary>
internal sealed class UpstreamHealth(IOptionsMonitor<GatewayOptions> options, TimeProvider time, ILogger<UpstreamHealth> logger)
{
    /// <summary>Raised when an instance is taken out of routing, so it is probed on the short schedule from now.</summary>
    public event Action<UpstreamInstance>? WentDown;

    /// <summary>The upstream answered a request properly (a complete response or stream).</summary>
    public void RequestSucceeded(UpstreamInstance instance) => instance.RecordSuccess();

    /// <summary>
    /// The upstream refused a request for the request's own sake (a 4xx, or a 5xx about the request: see
    /// <see cref="Forwarding.UpstreamErrorClassifier"/>). Neither counts against the instance nor resets its failures:
    /// a user sending bad requests must not be able to keep a failing instance in routing either.
    /// </summary>
    public void RequestRejected(UpstreamInstance instance)
    {
        // Nothing to record: the instance's HTTP layer works, which says nothing about its inference.
    }

    /// <summary>
    /// A request failed on the upstream's side after reaching it (HTTP 5xx that is not about the request, a broken,
    /// stalled or cut-short stream, a timeout); enough of them in a row take the instance out of routing.
    /// <paramref name="reason"/> is the gateway's own words (users see it); <paramref name="upstreamDetail"/>, the
    /// upstream's text, goes only into the admin's <see cref="UpstreamInstance.LastError"/> and the log, bounded.
    /// </summary>
    public void RequestFailed(UpstreamInstance instance, string reason, string? upstreamDetail = null)
    {
        var full = upstreamDetail is null ? reason : $"{reason}: {Errors.BoundedText.Truncate(upstreamDetail)}";
        var (failures, tookOut) = instance.RecordFailure(full, reason, options.CurrentValue.Health.FailureThreshold);
        if (tookOut)
        {
            ReliabilityLog.UpstreamFailing(logger, instance.Name, failures, full);
            WentDown?.Invoke(instance);
        }
        else
        {
            ReliabilityLog.UpstreamRequestFailed(logger, instance.Name, failures, full);
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

    /// <summary>How recently an instance must have answered a request for a timed-out probe to mean "busy", not "down".</summary>
    internal static readonly TimeSpan BusyGrace = TimeSpan.FromSeconds(60);

    /// <summary>The upstream started answering a real request (its response headers arrived).</summary>
    public void Answered(UpstreamInstance instance) => instance.RecordAnswer(time.GetTimestamp());

    /// <summary>
    /// A probe got no answer in time. An instance that is serving requests (one in flight, or one answered within
    /// <see cref="BusyGrace"/>) is busy, not down: under a long prefill on few cores llama-server's HTTP threads can
    /// miss a 3 s probe (seen in the cache bench), and taking the only instance out failed requests it would have
    /// served. A server that stopped answering anything still goes out, and refused connections take it out at once.
    /// </summary>
    public void ProbeTimedOut(UpstreamInstance instance, string reason)
    {
        var answered = instance.LastAnswered;
        var busy = instance.InFlight > 0 || (answered != 0 && time.GetElapsedTime(answered) < BusyGrace);
        if (busy && instance.IsHealthy)
        {
            ReliabilityLog.ProbeTimedOutWhileBusy(logger, instance.Name, instance.InFlight, reason);
            return;
        }

        ProbeFailed(instance, reason);
    }

    /// <param name="publicReason">What users may see, when <paramref name="reason"/> may hold upstream text of a request.</param>
    public void ProbeFailed(UpstreamInstance instance, string reason, string? publicReason = null)
    {
        if (instance.MarkUnhealthy(reason, publicReason))
        {
            GatewayLog.UpstreamUnavailable(logger, instance.Name, instance.DestinationPrefix, reason);
            WentDown?.Invoke(instance);
        }
    }
}
