using LlamaGateway.Usage;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Status;

/// <summary>
/// A bounded ring of <see cref="UsagePoint"/>s (by default one per 10 s for the last hour), sampled from the ledger's
/// totals on a <see cref="TimeProvider"/> timer, for the dashboard's chart of cache hit ratio and re-computed tokens.
/// </summary>
internal sealed class UsageTimeSeries : BackgroundService
{
    private readonly object _gate = new();
    private readonly Queue<UsagePoint> _points = new();
    private readonly UsageLedger _ledger;
    private readonly StatusOptions _options;
    private readonly TimeProvider _time;
    private Totals _last;
    private DateTimeOffset _lastAt;

    public UsageTimeSeries(UsageLedger ledger, IOptions<StatusOptions> options, TimeProvider time)
    {
        _ledger = ledger;
        _options = options.Value;
        _time = time;
        _last = Totals.Read(ledger.Totals);
        _lastAt = time.GetUtcNow();
        Started = time.GetTimestamp();
    }

    /// <summary>When the history began: start-up, since the series is created with the gateway's hosted services.</summary>
    public long Started { get; }

    public TimeSpan Interval => TimeSpan.FromSeconds(_options.SampleSeconds);

    public int Capacity => _options.Capacity;

    /// <summary>Closes the current interval as a point (the timer calls it; tests may too).</summary>
    public void Sample()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var totals = Totals.Read(_ledger.Totals);
            _points.Enqueue(Delta(_last, totals, _lastAt, now));
            while (_points.Count > Capacity)
            {
                _points.Dequeue();
            }

            _last = totals;
            _lastAt = now;
        }
    }

    /// <summary>The closed points, oldest first, and the interval in progress.</summary>
    public (IReadOnlyList<UsagePoint> Points, UsagePoint Current) Snapshot()
    {
        lock (_gate)
        {
            return (_points.ToList(), Delta(_last, Totals.Read(_ledger.Totals), _lastAt, _time.GetUtcNow()));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Sample();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static UsagePoint Delta(Totals from, Totals to, DateTimeOffset start, DateTimeOffset end) =>
        new(end, Math.Round((end - start).TotalSeconds, 3), to.Requests - from.Requests, to.Prompt - from.Prompt, to.Cached - from.Cached,
            to.Recomputed - from.Recomputed, to.Output - from.Output);

    private readonly record struct Totals(long Requests, long Prompt, long Cached, long Recomputed, long Output)
    {
        public static Totals Read(UsageCounters counters) =>
            new(counters.Requests, counters.PromptTokens, counters.CachedTokens, counters.RecomputedTokens, counters.OutputTokens);
    }
}
