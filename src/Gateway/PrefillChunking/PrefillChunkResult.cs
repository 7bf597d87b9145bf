namespace LlamaGateway.PrefillChunking;

/// <summary>
/// What llama-server reported for one chunk (<c>timings</c> of a <c>/completion</c> with <c>n_predict: 0</c>): the tokens
/// it computed, those it found in the slot's cache, and the milliseconds of prefill.
/// </summary>
internal readonly record struct PrefillChunkResult(PrefillCallOutcome Outcome, int ComputedTokens, int CachedTokens, double Milliseconds, string Detail)
{
    /// <summary>Tokens of the chunk's prefix the slot holds afterwards.</summary>
    public int PromptTokens => ComputedTokens + CachedTokens;

    public static PrefillChunkResult Problem(PrefillCallOutcome outcome, string detail) => new(outcome, 0, 0, 0, detail);
}
