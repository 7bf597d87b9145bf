namespace LlamaGateway.Usage;

/// <summary>
/// What an upstream reported about one request's token use. llama-server's <c>timings.prompt_n</c> counts only the
/// prompt tokens it re-computed; <c>timings.cache_n</c> counts those it reused from the slot's KV cache.
/// </summary>
internal sealed class UpstreamUsage
{
    /// <summary>Prompt tokens in total (re-computed + cached), or -1 when unknown.</summary>
    public int PromptTokens { get; set; } = -1;

    /// <summary>Prompt tokens served from the KV cache, or -1 when unknown.</summary>
    public int CachedTokens { get; set; } = -1;

    /// <summary>Generated tokens, or -1 when unknown.</summary>
    public int OutputTokens { get; set; } = -1;

    /// <summary>Milliseconds the upstream spent on prefill of the re-computed tokens, or -1 when unknown.</summary>
    public double PromptMilliseconds { get; set; } = -1;

    /// <summary>
    /// Prompt tokens the gateway had the upstream compute in chunks just before this request (<c>PrefillChunking</c>),
    /// and the milliseconds that took. The upstream then reports them as cached; when its usage is read into this
    /// object they count as re-computed instead, and their time as prefill time. Set before the response is read; not
    /// copied by <see cref="CopyFrom"/>.
    /// </summary>
    public int ChunkedTokens { get; set; }

    public double ChunkedMilliseconds { get; set; }

    /// <summary>What the upstream itself reported as cached, before <see cref="ChunkedTokens"/> counted as re-computed; -1 when unknown.</summary>
    public int ReportedCachedTokens { get; set; } = -1;

    /// <summary>Prompt tokens the upstream had to re-compute (prompt minus cached), or -1 when unknown.</summary>
    public int RecomputedTokens => PromptTokens < 0 ? -1 : CachedTokens < 0 ? PromptTokens : Math.Max(0, PromptTokens - CachedTokens);

    public bool HasAny => PromptTokens >= 0 || OutputTokens >= 0;

    /// <summary>Takes every known value of <paramref name="other"/>, keeping ours where it knows nothing.</summary>
    public void CopyFrom(UpstreamUsage other)
    {
        if (other.PromptTokens >= 0)
        {
            PromptTokens = other.PromptTokens;
        }

        if (other.CachedTokens >= 0)
        {
            CachedTokens = other.CachedTokens;
        }

        if (other.ReportedCachedTokens >= 0)
        {
            ReportedCachedTokens = other.ReportedCachedTokens;
        }

        if (other.OutputTokens >= 0)
        {
            OutputTokens = other.OutputTokens;
        }

        if (other.PromptMilliseconds >= 0)
        {
            PromptMilliseconds = other.PromptMilliseconds;
        }
    }
}
