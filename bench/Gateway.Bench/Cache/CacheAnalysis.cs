namespace LlamaGateway.Bench.Cache;

/// <summary>Everything measured for one variant, and the numbers derived from it.</summary>
internal sealed class VariantResult
{
    public required string Name { get; init; }
    public required string Label { get; init; }
    public required int SlotsPerInstance { get; init; }
    public required List<RequestResult> Results { get; init; }
    public required Dictionary<string, double> MetricsDelta { get; init; }
    public required List<ServerTask> Tasks { get; init; }
    public required Dictionary<string, int> SlotSelection { get; init; }
    public required int CacheRamEvictions { get; init; }
    public Dictionary<string, int> GatewayReasons { get; init; } = [];
    public List<string> GatewayFailures { get; init; } = [];

    public IEnumerable<RequestResult> Model => Results.Where(r => r.Request.IsModelRequest);

    public int Failed => Results.Count(r => !r.Ok);

    public double RecomputedMetrics => MetricsDelta.GetValueOrDefault("prompt_tokens_total", double.NaN);

    public double CachedMetrics => MetricsDelta.GetValueOrDefault("prompt_tokens_cached_total", double.NaN);

    public double HitRatio => RecomputedMetrics + CachedMetrics > 0 ? CachedMetrics / (RecomputedMetrics + CachedMetrics) : double.NaN;

    public long RecomputedUsage => Model.Where(r => r.InputTokens >= 0).Sum(r => (long)r.InputTokens);

    public long CachedUsage => Model.Where(r => r.CacheReadTokens >= 0).Sum(r => (long)r.CacheReadTokens);

    public int UsageReported => Model.Count(r => r.Ok && r.InputTokens >= 0);

    public long RecomputedServerLog => Tasks.Where(t => t.Recomputed >= 0).Sum(t => (long)t.Recomputed);

    public double WallSeconds => Results.Count == 0 ? double.NaN : Results.Max(r => r.Ended) - Results.Min(r => r.Sent);

    public List<double> Ttft(params RequestKind[] kinds) =>
        [.. Results.Where(r => r.Ok && kinds.Contains(r.Request.Kind) && !double.IsNaN(r.FirstToken)).Select(r => r.Ttft)];

    /// <summary>Re-computed tokens by request kind: from the response usage, else from the matched server task.</summary>
    public long RecomputedBy(params RequestKind[] kinds) =>
        Model.Where(r => kinds.Contains(r.Request.Kind)).Sum(r => (long)(r.InputTokens >= 0 ? r.InputTokens : r.Task?.Recomputed ?? 0));

    /// <summary>Queue wait (send to the slot starting on it, per llama-server's log) of matched requests.</summary>
    public List<double> QueueWaits(params RequestKind[] kinds) =>
        [.. Model.Where(r => r.Task is not null && kinds.Contains(r.Request.Kind)).Select(r => Math.Max(0, QueueWait(r)))];

    public static double QueueWait(RequestResult r) => r.Task is null ? double.NaN : r.Task.Launch - r.Sent;

    public int Matched => Model.Count(r => r.Task is not null);

    public int MaxConcurrentTasks { get; set; }

    /// <summary>Main turns that waited more than a second while another user's request was being served.</summary>
    public List<RequestResult> BlockedByOthers { get; } = [];

    /// <summary>Seconds main turns spent queued while other users' requests were being processed, in total.</summary>
    public double SecondsBehindOthers => Model.Where(r => !double.IsNaN(r.BehindOthers)).Sum(r => r.BehindOthers);

    public double MaxBehindOthers => Model.Where(r => !double.IsNaN(r.BehindOthers)).Select(r => r.BehindOthers).DefaultIfEmpty(double.NaN).Max();
}

internal static class CacheAnalysis
{
    public const double BlockedThresholdSeconds = 1.0;

    /// <summary>
    /// Pairs each answered model request with the llama-server task that served it: same re-computed token count (of
    /// a request prefilled in chunks by the gateway, the last part only: the chunks were tasks of their own), a total
    /// that agrees within the generated tokens, launched after it was sent and released before it ended (with
    /// a little slack for clock mapping), nearest release first. Task times are converted to the bench clock here.
    /// </summary>
    public static void MatchTasks(VariantResult variant, IReadOnlyList<LlamaServer> servers)
    {
        const double Slack = 0.25;
        var byInstance = servers.ToDictionary(s => s.Instance);
        foreach (var task in variant.Tasks)
        {
            var server = byInstance[task.Instance];
            task.Launch = double.IsNaN(task.Launch) ? double.NaN : server.ToBenchClock(task.Launch);
            task.Release = double.IsNaN(task.Release) ? double.NaN : server.ToBenchClock(task.Release);
        }

        var open = variant.Tasks.Where(t => !double.IsNaN(t.Launch) && !double.IsNaN(t.Release) && t.Recomputed >= 0).ToList();
        foreach (var result in variant.Model.Where(r => r.Ok && r.InputTokens >= 0).OrderBy(r => r.Ended))
        {
            ServerTask? best = null;
            foreach (var task in open)
            {
                if (task.Matched || task.Recomputed != result.InputTokens - (result.Decision?.ChunkedTokens ?? 0))
                {
                    continue;
                }

                var totalOk = Math.Abs(task.TotalTokens - result.PromptTokens) <= Math.Max(2, task.Generated + 1);
                var timeOk = task.Launch >= result.Sent - Slack && task.Release <= result.Ended + Slack;
                if (totalOk && timeOk && (best is null || Math.Abs(task.Release - result.Ended) < Math.Abs(best.Release - result.Ended)))
                {
                    best = task;
                }
            }

            if (best is not null)
            {
                best.Matched = true;
                result.Task = best;
            }
        }

        // Server-side concurrency: how many tasks were being processed at once, at most.
        var edges = open.SelectMany(t => new[] { (t.Launch, +1), (t.Release, -1) }).OrderBy(e => e.Item1).ThenBy(e => e.Item2);
        var current = 0;
        var max = 0;
        foreach (var (_, delta) in edges)
        {
            current += delta;
            max = Math.Max(max, current);
        }

        variant.MaxConcurrentTasks = max;

        // Waiting behind others: the part of a main turn's queue wait (send -> launch) during which a request of
        // another user was being processed upstream. A single-threaded proxy makes this nearly the whole wait.
        var served = variant.Model.Where(o => o.Task is not null).ToList();
        foreach (var result in variant.Model.Where(r => r.Task is not null && r.Request.Kind is RequestKind.MainFirst or RequestKind.MainFollowUp))
        {
            var start = result.Sent;
            var end = result.Task!.Launch;
            var intervals = served.Where(o => o.Request.User != result.Request.User && o.Task!.Launch < end && o.Task.Release > start)
                .Select(o => (From: Math.Max(start, o.Task!.Launch), To: Math.Min(end, o.Task.Release)))
                .OrderBy(i => i.From);
            var covered = 0.0;
            var reach = start;
            foreach (var (from, to) in intervals)
            {
                if (to > reach)
                {
                    covered += to - Math.Max(from, reach);
                    reach = to;
                }
            }

            result.BehindOthers = Math.Max(0, covered);
            if (result.BehindOthers > BlockedThresholdSeconds)
            {
                variant.BlockedByOthers.Add(result);
            }
        }
    }
}
