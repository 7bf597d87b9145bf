namespace LlamaGateway.Auth;

/// <summary>
/// <c>Gateway:Limits:CountTokens</c>: count_tokens requests one user may have in flight, apart from the generation
/// cap. Claude Code sends bursts of 20-40 at every session start; each takes milliseconds upstream, so the defaults
/// let such a burst queue briefly (not 429) while one user's flood cannot hold more than a few upstream connections.
/// </summary>
internal sealed class CountTokensLimitsOptions
{
    /// <summary>count_tokens one user may have running at once; 0 turns this cap off.</summary>
    public int MaxConcurrentRequestsPerUser { get; set; } = 4;

    /// <summary>count_tokens of one user that may wait for one of that user's places before the next gets a 429.</summary>
    public int QueueLimit { get; set; } = 64;

    /// <summary>Longest a count_tokens waits for one of its user's places before a 429 (seconds).</summary>
    public double QueueSeconds { get; set; } = 30;
}
