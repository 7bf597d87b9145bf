using LlamaGateway.Pipeline;

namespace LlamaGateway.Upstreams;

/// <summary>
/// Runtime state of one configured upstream: its address, how many slots it has, and whether it is healthy.
/// Shared by all requests; state changes are single-field writes, so readers never see a torn object.
/// </summary>
internal sealed class UpstreamInstance
{
    private volatile int _slotCount;
    private volatile bool _healthy = true;
    private volatile string? _lastError;

    public UpstreamInstance(UpstreamOptions options)
    {
        Options = options;
        Name = options.Name;
        BaseUri = new Uri(options.BaseUrl.TrimEnd('/') + "/");
        Dialect = options.ParsedDialect;
        _slotCount = options.Slots ?? 1;
        SlotsDiscovered = options.Slots is not null;
    }

    public UpstreamOptions Options { get; }

    public string Name { get; }

    /// <summary>Base address with a trailing slash; YARP prepends it to the request path.</summary>
    public Uri BaseUri { get; }

    /// <summary><see cref="BaseUri"/> without the trailing slash, as YARP's destination prefix.</summary>
    public string DestinationPrefix => BaseUri.AbsoluteUri.TrimEnd('/');

    public ApiDialect Dialect { get; }

    public int SlotCount => _slotCount;

    /// <summary>Whether the slot count is known (configured, or read from <c>/props</c>).</summary>
    public bool SlotsDiscovered { get; private set; }

    public bool IsHealthy => _healthy;

    public string? LastError => _lastError;

    /// <summary>llama-server's model path or alias, from <c>/props</c>, for the dashboard.</summary>
    public string? ModelName { get; set; }

    public void SetSlotCount(int slots)
    {
        if (slots > 0)
        {
            _slotCount = slots;
            SlotsDiscovered = true;
        }
    }

    public void MarkHealthy()
    {
        _healthy = true;
        _lastError = null;
    }

    public void MarkUnhealthy(string reason)
    {
        _lastError = reason;
        _healthy = false;
    }
}
