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
            Assert.True(turn.Prefill.Requests.Count > 0, $"{turn.Label}: llama-server logged no prompt at all for this run: {turn}");
            Assert.True(turn.Prefill.RecomputedTokens == turn.Prefill.LoggedRecomputedTokens,
                $"{turn.Label}: llamacpp:prompt_tokens_total moved by {turn.Prefill.RecomputedTokens} but the log's prompt eval lines add up to {turn.Prefill.LoggedRecomputedTokens}: {turn}");
        }
    }

    /// <summary>One line per test in summary.txt, which scripts/e2e.sh prints after the run.</summary>
    public static void Summarize(string artifactsDirectory, string test, string line) =>
        File.WriteAllText(Path.Combine(artifactsDirectory, "summary.txt"), $"{test}: {line}\n");
}
