using LlamaGateway.Upstreams;

namespace LlamaGateway.Routing;

/// <summary>
/// The routing decision for one request and the hold it has on its (instance, slot). Disposing releases the slot
/// for the next request, which is why every path out of the pipeline disposes it.
/// </summary>
internal sealed class RoutingLease : IDisposable
{
    private Action<RoutingLease>? _release;

    public RoutingLease(UpstreamInstance instance, int? slot, string reason, Action<RoutingLease>? release)
    {
        Instance = instance;
        Slot = slot;
        Reason = reason;
        _release = release;
    }

    public UpstreamInstance Instance { get; }

    /// <summary>The llama-server slot (<c>id_slot</c>) the request is pinned to, or null for the server's choice.</summary>
    public int? Slot { get; }

    /// <summary>Why this slot was chosen (for logs and the dashboard), e.g. "own-slot", "prefix-match", "lru".</summary>
    public string Reason { get; }

    public void Dispose() => Interlocked.Exchange(ref _release, null)?.Invoke(this);
}
