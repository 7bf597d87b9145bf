namespace LlamaGateway.Auth;

/// <summary><c>Gateway:Limits</c>: per-user fairness, so one user's burst cannot crowd out the rest of the team.</summary>
internal sealed class LimitsOptions
{
    /// <summary>
    /// Generating requests (messages, chat completions, completions; not count_tokens) one user may have in flight at
    /// once; 0 turns the cap off. Claude Code runs a main turn, side requests and parallel subagents at the same time,
    /// so the default leaves room for that.
    /// </summary>
    public int MaxConcurrentRequestsPerUser { get; set; } = 8;

    /// <summary>Requests of one user that may wait for one of that user's places before the next gets a 429.</summary>
    public int QueueLimit { get; set; } = 64;

    /// <summary>Longest a request waits for one of its user's places before a 429 (seconds).</summary>
    public double QueueSeconds { get; set; } = 60;

    /// <summary><c>Gateway:Limits:CountTokens</c>: count_tokens' own per-user cap.</summary>
    public CountTokensLimitsOptions CountTokens { get; set; } = new();

    /// <summary>
    /// Wrong keys one client address may send within <see cref="FailedKeyWindowSeconds"/> before further wrong keys
    /// from it get 429; 0 turns the limit off. Correct keys are never counted or refused.
    /// </summary>
    public int MaxFailedKeyAttempts { get; set; } = 20;

    /// <summary>The window of <see cref="MaxFailedKeyAttempts"/>, from an address's first wrong key (seconds).</summary>
    public double FailedKeyWindowSeconds { get; set; } = 60;
}
