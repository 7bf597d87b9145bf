using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace LlamaGateway.Metrics;

/// <summary>
/// What happened at the API routes: requests by (route, status, user) and durations by route. Every label is
/// bounded: routes are a fixed set, users are configured, statuses are HTTP codes.
/// </summary>
internal sealed class RequestMetrics
{
    private readonly ConcurrentDictionary<(string Route, int Status, string User), StrongBox<long>> _requests = new();
    private readonly ConcurrentDictionary<string, DurationHistogram> _durations = new(StringComparer.Ordinal);

    public void Record(string route, int status, string user, double seconds)
    {
        var counter = _requests.GetOrAdd((route, status, user), static _ => new StrongBox<long>());
        Interlocked.Increment(ref counter.Value);
        _durations.GetOrAdd(route, static _ => new DurationHistogram()).Observe(seconds);
    }

    /// <summary>Request counts, sorted so the exposition is stable between scrapes.</summary>
    public IReadOnlyList<(string Route, int Status, string User, long Count)> Requests() =>
        _requests.Select(pair => (pair.Key.Route, pair.Key.Status, pair.Key.User, Interlocked.Read(ref pair.Value.Value)))
            .OrderBy(r => r.Route, StringComparer.Ordinal).ThenBy(r => r.Status).ThenBy(r => r.User, StringComparer.Ordinal)
            .ToList();

    public IReadOnlyList<(string Route, DurationHistogram Histogram)> Durations() =>
        _durations.Select(pair => (pair.Key, pair.Value)).OrderBy(d => d.Key, StringComparer.Ordinal).ToList();
}
