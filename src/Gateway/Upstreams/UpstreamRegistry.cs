using LlamaGateway.Hosting;
using LlamaGateway.Reliability;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Upstreams;

/// <summary>
/// The live set of upstream instances. Rebuilt when configuration changes; an instance whose options did not change
/// keeps its runtime state (health, discovered slots), so a reload does not cold-start the pool.
/// </summary>
internal sealed class UpstreamRegistry : IDisposable
{
    private readonly IDisposable? _subscription;
    private volatile IReadOnlyList<UpstreamInstance> _instances;

    public UpstreamRegistry(IOptionsMonitor<GatewayOptions> options, ILogger<UpstreamRegistry>? logger = null)
    {
        _instances = Build(options.CurrentValue, []);
        _subscription = options.OnChange(next =>
        {
            // Listeners must see the new set, so it is published before they are told.
            _instances = Build(next, _instances);
            if (logger is not null)
            {
                ReliabilityLog.ConfigurationReloaded(logger, _instances.Count, string.Join(", ", _instances.Select(i => $"{i.Name} ({i.DestinationPrefix})")));
            }

            Changed?.Invoke();
        });
    }

    /// <summary>Raised after the set of instances changed (configuration reload).</summary>
    public event Action? Changed;

    public IReadOnlyList<UpstreamInstance> Instances => _instances;

    public UpstreamInstance? Find(string name)
    {
        foreach (var instance in _instances)
        {
            if (string.Equals(instance.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return instance;
            }
        }

        return null;
    }

    public void Dispose() => _subscription?.Dispose();

    private static IReadOnlyList<UpstreamInstance> Build(GatewayOptions options, IReadOnlyList<UpstreamInstance> previous)
    {
        var list = new List<UpstreamInstance>(options.Upstreams.Count);
        foreach (var upstreamOptions in options.Upstreams)
        {
            UpstreamInstance? kept = null;
            foreach (var old in previous)
            {
                if (SameEndpoint(old.Options, upstreamOptions))
                {
                    kept = old;
                    break;
                }
            }

            list.Add(kept ?? new UpstreamInstance(upstreamOptions));
        }

        return list;
    }

    private static bool SameEndpoint(UpstreamOptions a, UpstreamOptions b) =>
        string.Equals(a.Name, b.Name, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.BaseUrl, b.BaseUrl, StringComparison.OrdinalIgnoreCase)
        && a.Slots == b.Slots
        && string.Equals(a.Dialect, b.Dialect, StringComparison.OrdinalIgnoreCase)
        && a.ApiKey == b.ApiKey
        && a.MaxOutputTokens == b.MaxOutputTokens
        && a.SlotSave.SameAs(b.SlotSave);
}
