using Microsoft.Extensions.Options;

namespace LlamaGateway.Hosting;

/// <summary>
/// Replaces the framework's <see cref="IOptionsMonitor{TOptions}"/> for gated types. The stock monitor drops its
/// cached value on every reload and re-creates it on the next read, so after an invalid edit every read (and the
/// change callback, on the file watcher's thread) throws <see cref="OptionsValidationException"/>. This one keeps the
/// last value that validated; new values arrive only through <see cref="ConfigurationReloadGate"/>. The first read
/// still throws for an invalid configuration, which keeps <c>ValidateOnStart</c> failing fast with the validators'
/// messages. A valid new value must also pass every <see cref="IReloadGuard{TOptions}"/> against the value in force.
/// </summary>
internal sealed class LastGoodOptionsMonitor<TOptions> : IOptionsMonitor<TOptions>, IGatedOptions
    where TOptions : class
{
    private readonly object _sync = new();
    private readonly IOptionsFactory<TOptions> _factory;
    private readonly IReloadGuard<TOptions>[] _guards;
    private readonly List<Action<TOptions, string?>> _listeners = [];
    private TOptions? _current;

    public LastGoodOptionsMonitor(IOptionsFactory<TOptions> factory, ConfigurationReloadGate gate, IEnumerable<IReloadGuard<TOptions>> guards)
    {
        _factory = factory;
        _guards = guards.ToArray();
        gate.Join(this);
    }

    public TOptions CurrentValue
    {
        get
        {
            var current = Volatile.Read(ref _current);
            if (current is not null)
            {
                return current;
            }

            lock (_sync)
            {
                // Throws OptionsValidationException when the configuration is invalid; nothing is cached then.
                return _current ??= _factory.Create(Options.DefaultName);
            }
        }
    }

    public TOptions Get(string? name) =>
        string.IsNullOrEmpty(name) ? CurrentValue : _factory.Create(name);

    public IDisposable? OnChange(Action<TOptions, string?> listener)
    {
        lock (_sync)
        {
            _listeners.Add(listener);
        }

        return new Subscription(this, listener);
    }

    object? IGatedOptions.TryBuild(List<string> errors, List<string> refusals)
    {
        try
        {
            var next = _factory.Create(Options.DefaultName);
            var current = Volatile.Read(ref _current);
            var refused = false;
            foreach (var guard in _guards)
            {
                if (current is not null && guard.Refuse(current, next) is { } refusal)
                {
                    refusals.Add(refusal);
                    refused = true;
                }
            }

            return refused ? null : next;
        }
        catch (OptionsValidationException ex)
        {
            errors.AddRange(ex.Failures);
        }
        catch (Exception ex)
        {
            // Binding failed, e.g. the binder's "Failed to convert configuration value ... at 'Gateway:...'", which
            // names the key. Whatever it was, these options cannot be built from the new configuration.
            errors.Add(ex.InnerException is { } inner ? $"{ex.Message} ({inner.Message})" : ex.Message);
        }

        return null;
    }

    void IGatedOptions.Commit(object value)
    {
        lock (_sync)
        {
            _current = (TOptions)value;
        }
    }

    void IGatedOptions.Notify(Action<Exception> onListenerFailure)
    {
        Action<TOptions, string?>[] listeners;
        TOptions current;
        lock (_sync)
        {
            listeners = _listeners.ToArray();
            current = _current!;
        }

        foreach (var listener in listeners)
        {
            try
            {
                listener(current, Options.DefaultName);
            }
            catch (Exception ex)
            {
                onListenerFailure(ex);
            }
        }
    }

    private sealed class Subscription(LastGoodOptionsMonitor<TOptions> owner, Action<TOptions, string?> listener) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._sync)
            {
                owner._listeners.Remove(listener);
            }
        }
    }
}
