namespace LlamaGateway.Usage;

/// <summary>Running totals for one user (or the whole gateway); updated with interlocked adds from any thread.</summary>
internal sealed class UsageCounters
{
    private long _requests;
    private long _failures;
    private long _promptTokens;
    private long _cachedTokens;
    private long _outputTokens;
    private long _recomputedTokens;
    private long _sideRequests;

    public long Requests => Interlocked.Read(ref _requests);

    public long Failures => Interlocked.Read(ref _failures);

    public long PromptTokens => Interlocked.Read(ref _promptTokens);

    public long CachedTokens => Interlocked.Read(ref _cachedTokens);

    public long OutputTokens => Interlocked.Read(ref _outputTokens);

    public long RecomputedTokens => Interlocked.Read(ref _recomputedTokens);

    /// <summary>Requests the router kept off conversation slots (quota probes, titles, short tool-less requests).</summary>
    public long SideRequests => Interlocked.Read(ref _sideRequests);

    public void Add(UpstreamUsage usage, bool failed, bool side = false)
    {
        Interlocked.Increment(ref _requests);
        if (side)
        {
            Interlocked.Increment(ref _sideRequests);
        }

        if (failed)
        {
            Interlocked.Increment(ref _failures);
        }

        if (usage.PromptTokens > 0)
        {
            Interlocked.Add(ref _promptTokens, usage.PromptTokens);
            Interlocked.Add(ref _recomputedTokens, usage.RecomputedTokens);
        }

        if (usage.CachedTokens > 0)
        {
            Interlocked.Add(ref _cachedTokens, usage.CachedTokens);
        }

        if (usage.OutputTokens > 0)
        {
            Interlocked.Add(ref _outputTokens, usage.OutputTokens);
        }
    }
}
