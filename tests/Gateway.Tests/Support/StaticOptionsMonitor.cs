using Microsoft.Extensions.Options;

namespace LlamaGateway.Tests.Support;

/// <summary>An options monitor over a fixed value that tests can replace to simulate a configuration reload.</summary>
internal sealed class StaticOptionsMonitor<T>(T value) : IOptionsMonitor<T>
{
    private readonly List<Action<T, string?>> _listeners = [];

    public T CurrentValue { get; private set; } = value;

    public T Get(string? name) => CurrentValue;

    public IDisposable OnChange(Action<T, string?> listener)
    {
        _listeners.Add(listener);
        return new Unsubscribe(() => _listeners.Remove(listener));
    }

    public void Set(T next)
    {
        CurrentValue = next;
        foreach (var listener in _listeners.ToArray())
        {
            listener(next, null);
        }
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
