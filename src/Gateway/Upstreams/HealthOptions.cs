namespace LlamaGateway.Upstreams;

/// <summary>
/// <c>Gateway:Health</c>: how instances are checked (actively by probes, passively by what real requests see) and how
/// the gateway's own calls to them (probes, discovery) are retried and broken off. Slot save/restore calls are skipped
/// while that circuit is open but have their own timeout (<c>SlotSave:TimeoutSeconds</c>) and no retries.
/// </summary>
internal sealed class HealthOptions
{
    /// <summary>Seconds between probes of a healthy instance (plus up to 20% random jitter).</summary>
    public double IntervalSeconds { get; set; } = 5;

    /// <summary>
    /// Seconds between probes of an unhealthy instance, so a restarted llama-server is back in routing quickly.
    /// While its circuit is open these probes cost nothing (no connection is attempted).
    /// </summary>
    public double UnhealthyIntervalSeconds { get; set; } = 1;

    /// <summary>Longest one probe attempt (<c>GET /health</c> or <c>GET /props</c>) may take.</summary>
    public double ProbeTimeoutSeconds { get; set; } = 3;

    /// <summary>Extra attempts of a failed probe (exponential backoff with jitter) before the instance counts as down.</summary>
    public int ProbeRetries { get; set; } = 2;

    /// <summary>
    /// Consecutive failed requests (HTTP 5xx, a stream that broke, stalled or was cut short, a timeout) after which an
    /// instance is taken out of routing until a probe succeeds. A refused connection takes it out at once.
    /// </summary>
    public int FailureThreshold { get; set; } = 3;

    /// <summary>
    /// How long the circuit for the gateway's own calls to an instance stays open after they kept failing; while
    /// open, those calls fail at once instead of waiting on a dead server. Minimum 0.5.
    /// </summary>
    public double BreakSeconds { get; set; } = 5;
}
