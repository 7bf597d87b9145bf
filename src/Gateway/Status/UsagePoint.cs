namespace LlamaGateway.Status;

/// <summary>What the gateway did in one interval of the chart: deltas of the ledger's totals.</summary>
internal sealed record UsagePoint(DateTimeOffset At, double Seconds, long Requests, long PromptTokens, long CachedTokens, long RecomputedTokens, long OutputTokens)
{
    /// <summary>Share of prompt tokens served from cache in the interval; null when no prompt tokens were processed.</summary>
    public double? CacheHitRatio => PromptTokens > 0 ? Math.Round((double)CachedTokens / PromptTokens, 4) : null;
}
