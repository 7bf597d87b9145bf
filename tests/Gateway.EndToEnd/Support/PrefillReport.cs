using System.Globalization;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>Where a measurement starts: llama-server's counters and how far its log had got.</summary>
internal sealed record PrefillMark(LlamaServerMetrics Metrics, int LogLine);

/// <summary>
/// What llama-server re-computed between a <see cref="PrefillMark"/> and now, from its own counters and log (the
/// gateway's account is not consulted).
/// </summary>
/// <param name="RecomputedTokens">Delta of <c>llamacpp:prompt_tokens_total</c>.</param>
/// <param name="CachedTokens">Delta of <c>llamacpp:prompt_tokens_cached_total</c>.</param>
/// <param name="PromptSeconds">Delta of <c>llamacpp:prompt_seconds_total</c>.</param>
/// <param name="Requests">Each prompt llama-server ran, from its log, in order.</param>
internal sealed record PrefillReport(long RecomputedTokens, long CachedTokens, double PromptSeconds, IReadOnlyList<LlamaRequest> Requests)
{
    /// <summary>The same quantity as <see cref="RecomputedTokens"/>, summed from the log's prompt eval lines.</summary>
    public long LoggedRecomputedTokens => Requests.Sum(r => (long)(r.RecomputedTokens ?? 0));

    /// <summary>
    /// The first prompt of the span: for a CLI run, the turn's main request. When the gateway paused it for a shorter
    /// prompt, llama-server logged it cancelled and then ran it again on the same slot: that run is the one meant.
    /// </summary>
    public LlamaRequest? First
    {
        get
        {
            if (Requests.Count == 0)
            {
                return null;
            }

            var first = Requests[0];
            return first.Cancelled ? Requests.Skip(1).FirstOrDefault(r => r.Slot == first.Slot && !r.Cancelled) ?? first : first;
        }
    }

    /// <summary>Prompts llama-server ran to the end (not cancelled): one per request the gateway forwarded and was answered.</summary>
    public int CompletedRequests => Requests.Count(r => !r.Cancelled);

    /// <summary>Prompts cancelled before they finished (the gateway pauses long prefills for shorter prompts).</summary>
    public int CancelledRequests => Requests.Count(r => r.Cancelled);

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"re-computed {RecomputedTokens} tokens (log: {LoggedRecomputedTokens}), cached {CachedTokens}, prefill {PromptSeconds:0.00} s, {Requests.Count} request(s)") +
        string.Concat(Requests.Select(r => "\n    " + r));
}
