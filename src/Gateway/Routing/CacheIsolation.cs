using LlamaGateway.Hosting;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Routing;

/// <summary>
/// The gateway's <see cref="IsolationMode"/>, read once at start-up: what slots and saved states hold was decided
/// under one mode, so a reload that changes it is not applied (it is logged; a restart applies it). That also keeps a
/// reload from quietly weakening <see cref="IsolationMode.PerUser"/>.
/// </summary>
internal sealed class CacheIsolation : IDisposable
{
    private readonly IDisposable? _subscription;

    public CacheIsolation(IOptionsMonitor<GatewayOptions> options, ILogger<CacheIsolation> logger)
    {
        Mode = Parse(options.CurrentValue.Isolation) ?? IsolationMode.Shared;
        _subscription = options.OnChange((next, _) =>
        {
            if (Parse(next.Isolation) is { } requested && requested != Mode)
            {
                RoutingLog.IsolationChangeIgnored(logger, requested.ToString(), Mode.ToString());
            }
        });
    }

    public CacheIsolation(IsolationMode mode) => Mode = mode;

    public static CacheIsolation Shared { get; } = new(IsolationMode.Shared);

    public IsolationMode Mode { get; }

    /// <summary>What a request of <paramref name="identity"/> may reuse.</summary>
    public ReuseScope ScopeFor(string? identity) => new(identity, Mode == IsolationMode.PerUser);

    /// <summary>The mode a configuration value names (case-insensitive), or null when it names none.</summary>
    public static IsolationMode? Parse(string? value) =>
        Enum.TryParse<IsolationMode>(value, ignoreCase: true, out var mode) && Enum.IsDefined(mode) && !int.TryParse(value, out _) ? mode : null;

    public void Dispose() => _subscription?.Dispose();
}
