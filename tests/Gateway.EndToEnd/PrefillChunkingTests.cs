using System.Globalization;
using LlamaGateway.EndToEnd.Support;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// The short prompt above a long prefill (<see cref="ShortAboveLongPrefill"/>) with the gateway's chunked prefill:
/// the long prompt goes to llama-server half a second of work at a time, rendered by llama-server's own chat template
/// and sent as prefixes with <c>n_predict: 0</c>, and gives way to the short prompt between chunks, so the short
/// prompt waits for one chunk and llama-server still computes each token of the long prompt once. Both variants run,
/// which is what shows the timing assertion can fail.
/// </summary>
[Trait("Category", "e2e")]
public sealed class PrefillChunkingTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Messages_ShortPromptAboveLongPrefill_GetsItsFirstTokenBeforeTheLongPromptEndsOnlyWithChunks(bool chunked)
    {
        var run = await ShortAboveLongPrefill.RunAsync(
            $"{nameof(Messages_ShortPromptAboveLongPrefill_GetsItsFirstTokenBeforeTheLongPromptEndsOnlyWithChunks)}_{(chunked ? "On" : "Off")}",
            $"chunks {(chunked ? "on" : "off")}", new Dictionary<string, string> { ["PrefillChunkSeconds"] = chunked ? "0.5" : "0" }, output);
        var (shortTurn, longDone, prefill, summary) = (run.Short, run.Long, run.Prefill, run.Summary);

        // llama-server computes every prompt token once either way (a cut may cost a token or two more).
        Assert.True(prefill.RecomputedTokens <= run.BothPrompts * 1.02, $"llama-server should compute each prompt token once: {summary}");
        var chunkLine = run.Waited.SingleOrDefault(w => w.Contains(" chunks, gave way ", StringComparison.Ordinal));
        if (chunked)
        {
            // The short prompt is ~300 tokens: it waited for a chunk of the long one at most, not for all of it.
            Assert.True(shortTurn.FirstEvent.TotalSeconds < 0.4 * prefill.PromptSeconds,
                $"with chunks, the long prefill should not hold up the short prompt's first token: {summary}");
            Assert.NotNull(chunkLine);
            var chunks = int.Parse(System.Text.RegularExpressions.Regex.Match(chunkLine, @" in (\d+) chunks").Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.True(chunks >= 5, summary);

            // One llama-server task per chunk, then the request itself, which found nearly all of its prompt in the slot.
            Assert.Equal(chunks + 2, prefill.CompletedRequests);
            var last = prefill.Requests.Last(r => r.Slot == prefill.Requests[0].Slot && !r.Cancelled);
            Assert.True(last.RecomputedTokens < 0.2 * run.LongPrompt, $"the request should find its chunks cached: {summary}");

            // Its client is told it computed the whole prompt: the chunks' tokens are input, not cache reads.
            Assert.True(longDone.InputTokens >= 0.9 * run.LongPrompt, $"the chunks' tokens count as input: {summary}");
        }
        else
        {
            Assert.True(shortTurn.FirstEvent.TotalSeconds >= 0.4 * prefill.PromptSeconds,
                $"without chunks llama-server fills every batch with the lower slot's prompt first: {summary}");
            Assert.Null(chunkLine);
            Assert.Equal(2, prefill.CompletedRequests);
        }
    }

    /// <summary>
    /// The real Claude Code CLI with chunked prefill (fast tiny model, 4 slots). Its first turn's ~12K-token prompt, with
    /// Claude Code's own system blocks and tools as the gateway translates them, is rendered by llama-server's
    /// <c>/apply-template</c> and prefilled in chunks; the request must then find them all in its slot (the gateway
    /// checks that after every chunked request and turns chunking off, with a warning, when not), the gateway's token
    /// account must match llama-server's, and the follow-up (<c>claude -c</c>) must stay warm. The chunks are small
    /// (0.02 s) because the fast model computes tens of thousands of tokens a second.
    /// </summary>
    [Fact]
    public async Task ClaudeCode_FirstTurnPrefilledInChunks_RequestFindsThemAndFollowUpStaysWarm()
    {
        const string name = nameof(ClaudeCode_FirstTurnPrefilledInChunks_RequestFindsThemAndFollowUpStaysWarm);
        var artifacts = Toolchain.ArtifactsFor(name);
        await using var server = await LlamaServerFixture.StartAsync(new LlamaServerOptions { Slots = 4 }, artifacts);
        await using var gateway = await GatewayFixture.StartAsync([server], artifacts, new Dictionary<string, string?>
        {
            ["Gateway:Routing:PrefillChunkSeconds"] = "0.02",
        });
        using var cli = await ClaudeCli.CreateAsync(artifacts);
        var meter = new TurnMeter(server, gateway, output, artifacts);

        var first = await meter.RunAsync(cli, "turn 1", "In one sentence, what is this project?", continueConversation: false);
        var second = await meter.RunAsync(cli, "turn 2", "Which command runs its tests?", continueConversation: true);

        Measurements.AssertConsistent(first, second);
        var chunked = first.GatewayRequests.Where(r => r.PrefillChunks > 0).ToList();
        var log = await File.ReadAllTextAsync(gateway.LogPath);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"turn 1: {chunked.Count} request(s) prefilled in chunks ({string.Join(", ", chunked.Select(r => r.Waited))}), llama-server re-computed {first.Prefill.RecomputedTokens} " +
            $"in {first.Prefill.Requests.Count} prompts; turn 2 re-computed {second.Prefill.RecomputedTokens}");
        Measurements.Summarize(artifacts, name, summary);

        Assert.True(chunked.Count >= 1 && chunked.Max(r => r.PrefillChunks) >= 5, $"the first turn's main request should be prefilled in chunks: {summary}\n{first}");
        Assert.DoesNotContain("Prefill chunking is off", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Prefill chunking of a request", log, StringComparison.Ordinal);

        // llama-server ran one prompt per chunk besides the requests, and computed what the gateway accounted for.
        var models = first.GatewayRequests.Where(r => r.Route is not "/v1/messages/count_tokens").ToList();
        Assert.Equal(models.Count + models.Sum(r => r.PrefillChunks), first.Prefill.CompletedRequests);
        var accounted = models.Sum(r => (long)(r.PromptTokens ?? 0) - (r.CachedTokens ?? 0));
        Assert.True(Math.Abs(accounted - first.Prefill.RecomputedTokens) <= 0.01 * first.Prefill.RecomputedTokens + 16,
            $"the gateway accounted {accounted} tokens computed, llama-server says {first.Prefill.RecomputedTokens}: {summary}\n{first}");
        Assert.True(first.Prefill.RecomputedTokens >= ClaudeCodeThroughGatewayTests.MinimumColdPromptTokens, summary);
        Assert.True(second.Prefill.RecomputedTokens < 0.05 * first.Prefill.RecomputedTokens,
            $"the follow-up should re-compute only its new tokens: {summary}\n{second}");
    }
}
