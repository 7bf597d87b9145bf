using System.Globalization;
using LlamaGateway.EndToEnd.Support;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// The short prompt above a long prefill (<see cref="ShortAboveLongPrefill"/>) with the gateway pausing long
/// prefills: the short prompt's first token comes after llama-server notices the cancelled request (it polls once a
/// second) and processes the short prompt, and the long request, sent again, continues from the tokens it had
/// processed. Both variants run, which is what shows the timing assertion can fail.
/// </summary>
[Trait("Category", "e2e")]
public sealed class PrefillPreemptionTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Messages_ShortPromptAboveLongPrefill_GetsItsFirstTokenBeforeTheLongPromptEndsOnlyWithPreemption(bool preempt)
    {
        var run = await ShortAboveLongPrefill.RunAsync(
            $"{nameof(Messages_ShortPromptAboveLongPrefill_GetsItsFirstTokenBeforeTheLongPromptEndsOnlyWithPreemption)}_{(preempt ? "On" : "Off")}",
            $"preemption {(preempt ? "on" : "off")}", new Dictionary<string, string> { ["PreemptLongPrefills"] = preempt ? "true" : "false" }, output);
        var (shortTurn, longDone, prefill, summary) = (run.Short, run.Long, run.Prefill, run.Summary);

        // The short prompt is ~300 tokens: a fraction of a second of prefill of its own.
        var longPrefillSeconds = prefill.PromptSeconds;
        if (preempt)
        {
            Assert.True(shortTurn.FirstEvent.TotalSeconds < 0.4 * longPrefillSeconds,
                $"paused, the long prefill should not hold up the short prompt's first token: {summary}");
            Assert.Contains(run.Waited, w => w.Contains("for shorter prompts (1x)", StringComparison.Ordinal));

            // Sent again, the long request continued from what its first attempt processed: no token re-computed twice.
            Assert.True(longDone.CacheRead > 0, $"the resent long prompt should reuse the tokens processed before the pause: {summary}");
            Assert.True(prefill.RecomputedTokens <= run.BothPrompts * 1.05,
                $"llama-server should re-compute each prompt token once: {summary}");
        }
        else
        {
            Assert.True(shortTurn.FirstEvent.TotalSeconds >= 0.4 * longPrefillSeconds,
                $"without the pause llama-server fills every batch with the lower slot's prompt first: {summary}");
            Assert.DoesNotContain(run.Waited, w => w.Contains("shorter prompts", StringComparison.Ordinal));
        }
    }
}
