namespace LlamaGateway.EndToEnd.Support;

internal static class Measurements
{
    /// <summary>
    /// The two independent readings of llama-server must agree: its prompt-token counter and the sum of its
    /// "prompt eval time = X ms / N tokens" log lines. If they do not, the bench is measuring the wrong thing.
    /// </summary>
    public static void AssertConsistent(params TurnMeasurement[] turns)
    {
        foreach (var turn in turns)
        {
            AssertConsistent(turn.Label, turn.Prefill, turn.ToString());
        }
    }

    /// <summary>The same check for one span of llama-server's work (<paramref name="detail"/> goes into the message).</summary>
    public static void AssertConsistent(string label, PrefillReport prefill, string detail)
    {
        Assert.True(prefill.Requests.Count > 0, $"{label}: llama-server logged no prompt at all for this run: {detail}");
        if (prefill.CancelledRequests == 0)
        {
            Assert.True(prefill.RecomputedTokens == prefill.LoggedRecomputedTokens,
                $"{label}: llamacpp:prompt_tokens_total moved by {prefill.RecomputedTokens} but the log's prompt eval lines add up to {prefill.LoggedRecomputedTokens}: {detail}");
        }
        else
        {
            // A prompt cancelled part-way logs no prompt eval line, but the batches it ran are in the counter.
            Assert.True(prefill.RecomputedTokens >= prefill.LoggedRecomputedTokens,
                $"{label}: llamacpp:prompt_tokens_total moved by {prefill.RecomputedTokens}, less than the log's prompt eval lines add up to ({prefill.LoggedRecomputedTokens}): {detail}");
        }
    }

    /// <summary>One line per test in summary.txt, which scripts/e2e.sh prints after the run.</summary>
    public static void Summarize(string artifactsDirectory, string test, string line) =>
        File.WriteAllText(Path.Combine(artifactsDirectory, "summary.txt"), $"{test}: {line}\n");
}
