using LlamaGateway.Reliability;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace LlamaGateway.Hosting;

/// <summary>
/// Applies configuration reloads all or nothing. On every reload it builds (binds and validates) each gated options
/// type and checks it against its <see cref="IReloadGuard{TOptions}"/>s; only when all are valid and allowed are they
/// committed and their listeners told. An invalid edit is logged with the validators' key-naming messages, a refused
/// one with what it would have done, and the last good configuration stays in force. Runs on the file watcher's
/// thread, so it never throws.
/// </summary>
internal sealed class ConfigurationReloadGate : IDisposable
{
    private readonly object _sync = new();
    private readonly List<IGatedOptions> _members = [];
    private readonly IServiceProvider _services;
    private readonly IReadOnlyList<GatedOptionsType> _types;
    private readonly ILogger<ConfigurationReloadGate> _logger;
    private readonly IDisposable _subscription;
    private int _rejected;
    private int _unreadable;

    public ConfigurationReloadGate(IConfiguration configuration, IEnumerable<GatedOptionsType> types, IServiceProvider services, ILogger<ConfigurationReloadGate> logger)
    {
        _services = services;
        _types = types.ToArray();
        _logger = logger;
        _subscription = ChangeToken.OnChange(configuration.GetReloadToken, OnReload);
        if (configuration is IConfigurationRoot root)
        {
            foreach (var provider in root.Providers.OfType<ReloadTolerantJsonConfigurationSource.Provider>())
            {
                provider.ReloadFailed += (path, reason) =>
                {
                    Interlocked.Increment(ref _unreadable);
                    ReliabilityLog.ConfigurationFileUnreadable(_logger, path, reason);
                };
            }
        }
    }

    /// <summary>Reloads rejected (invalid or refused) so far (for tests and the dashboard).</summary>
    public int RejectedReloads => Volatile.Read(ref _rejected);

    /// <summary>Changes of the configuration file that could not be read or parsed so far (for tests).</summary>
    public int UnreadableReloads => Volatile.Read(ref _unreadable);

    public void Join(IGatedOptions member)
    {
        lock (_sync)
        {
            _members.Add(member);
        }
    }

    public void Dispose() => _subscription.Dispose();

    private void OnReload()
    {
        try
        {
            // Every gated type takes part, even one nobody has asked for yet, so none can be left half-updated.
            foreach (var type in _types)
            {
                _services.GetService(typeof(IOptionsMonitor<>).MakeGenericType(type.OptionsType));
            }

            List<IGatedOptions> changed;
            lock (_sync)
            {
                var errors = new List<string>();
                var refusals = new List<string>();
                var built = new List<(IGatedOptions Member, object Value)>(_members.Count);
                foreach (var member in _members)
                {
                    if (member.TryBuild(errors, refusals) is { } value)
                    {
                        built.Add((member, value));
                    }
                }

                if (errors.Count > 0 || refusals.Count > 0)
                {
                    Interlocked.Increment(ref _rejected);
                    if (errors.Count > 0)
                    {
                        ReliabilityLog.ConfigurationRejected(_logger, string.Join("; ", errors));
                    }

                    if (refusals.Count > 0)
                    {
                        ReliabilityLog.ConfigurationRefused(_logger, string.Join("; ", refusals));
                    }

                    return;
                }

                foreach (var (member, value) in built)
                {
                    member.Commit(value);
                }

                changed = built.ConvertAll(b => b.Member);
            }

            foreach (var member in changed)
            {
                member.Notify(ex => ReliabilityLog.ConfigurationListenerFailed(_logger, ex));
            }
        }
        catch (Exception ex)
        {
            ReliabilityLog.ConfigurationListenerFailed(_logger, ex);
        }
    }
}

/// <summary>One options type whose reloads go through <see cref="ConfigurationReloadGate"/>.</summary>
internal sealed record GatedOptionsType(Type OptionsType);

/// <summary>What the gate needs of a <see cref="LastGoodOptionsMonitor{TOptions}"/>, whatever its options type.</summary>
internal interface IGatedOptions
{
    /// <summary>
    /// Binds and validates the current configuration and checks it against the value in force; null when invalid
    /// (the reasons added to <paramref name="errors"/>) or refused (added to <paramref name="refusals"/>).
    /// </summary>
    object? TryBuild(List<string> errors, List<string> refusals);

    void Commit(object value);

    void Notify(Action<Exception> onListenerFailure);
}
