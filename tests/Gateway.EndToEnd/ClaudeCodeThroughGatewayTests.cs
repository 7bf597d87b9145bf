using System.Globalization;
using LlamaGateway.EndToEnd.Support;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// The real Claude Code CLI, through the real gateway, to a real llama-server (fast tiny model, 4 slots). What
/// llama-server re-computed is read from its own /metrics and log, never from the gateway.
/// </summary>
[Trait("Category", "e2e")]
public sealed class ClaudeCodeThroughGatewayTests(ITestOutputHelper output)
{
    /// <summary>A cold Claude Code prompt is ~11-12K tokens; anything far below means the measurement saw the wrong thing.</summary>
    internal const long MinimumColdPromptTokens = 5_000;

    [Fact]
    public async Task ClaudeCode_MultiTurnThroughGateway_FollowUpRecomputesOnlyNewTokens()
    {
        var artifacts = Toolchain.ArtifactsFor(nameof(ClaudeCode_MultiTurnThroughGateway_FollowUpRecomputesOnlyNewTokens));
        await using var server = await LlamaServerFixture.StartAsync(new LlamaServerOptions { Slots = 4 }, artifacts);
        await using var gateway = await GatewayFixture.StartAsync([server], artifacts);
        using var cli = await ClaudeCli.CreateAsync(artifacts);
        var meter = new TurnMeter(server, gateway, output, artifacts);

        var first = await meter.RunAsync(cli, "turn 1", "In one sentence, what is this project?", continueConversation: false);
        var second = await meter.RunAsync(cli, "turn 2", "Which command runs its tests?", continueConversation: true);
        var third = await meter.RunAsync(cli, "turn 3", "Thanks. Anything else I should know?", continueConversation: true);

        Measurements.AssertConsistent(first, second, third);
        Assert.True(first.MainRequestTokens >= MinimumColdPromptTokens,
            $"The first turn should re-compute the whole cold prompt (~11K tokens), but llama-server re-computed {first.MainRequestTokens}: {first}");
        Assert.NotNull(first.SessionId);
        Assert.All(new[] { second, third }, turn => Assert.Equal(first.SessionId, turn.SessionId));

        var budget = first.MainRequestTokens * 0.05;
        Measurements.Summarize(artifacts, nameof(ClaudeCode_MultiTurnThroughGateway_FollowUpRecomputesOnlyNewTokens),
            $"turn 1 main request {first.MainRequestTokens} (run {first.Prefill.RecomputedTokens}), turn 2 run {second.Prefill.RecomputedTokens}, " +
            $"turn 3 run {third.Prefill.RecomputedTokens} tokens re-computed (budget per follow-up < {budget:0})");
        foreach (var followUp in new[] { second, third })
        {
            Assert.True(followUp.Prefill.RecomputedTokens < budget,
                $"A follow-up turn should re-compute only its new tokens (< 5% of the first turn's {first.MainRequestTokens} = {budget:0}), " +
                $"but llama-server re-computed {followUp.Prefill.RecomputedTokens}:\n{followUp}\nfirst turn:\n{first}");
        }

        // The gateway pins the conversation: llama-server itself says every turn ran on one slot chosen by id_slot.
        var mainRequests = new[] { first, second, third }.Select(t => t.Prefill.First!).ToList();
        Assert.True(mainRequests.All(r => r.Selection == "id") && mainRequests.Select(r => r.Slot).Distinct().Count() == 1,
            $"Every turn of one conversation should run on the same llama-server slot, pinned with id_slot; llama-server ran them as:\n  {string.Join("\n  ", mainRequests)}");
    }

    /// <summary>
    /// Two conversations in one project, resumed alternately (<c>--resume</c>). The second conversation is placed where
    /// the shared prefix already sits, so each resume finds the other conversation's tail in its slot; it must
    /// re-compute at most that tail (~2K tokens), never the whole ~12K-token prompt.
    /// </summary>
    [Fact]
    public async Task ClaudeCode_AlternateTwoConversationsSameRepo_ResumeRecomputesAtMostTail()
    {
        const string name = nameof(ClaudeCode_AlternateTwoConversationsSameRepo_ResumeRecomputesAtMostTail);
        var artifacts = Toolchain.ArtifactsFor(name);
        await using var server = await LlamaServerFixture.StartAsync(new LlamaServerOptions { Slots = 4 }, artifacts);
        await using var gateway = await GatewayFixture.StartAsync([server], artifacts);
        using var cli = await ClaudeCli.CreateAsync(artifacts);
        var meter = new TurnMeter(server, gateway, output, artifacts);

        var first = await meter.RunAsync(cli, "conversation 1, turn 1", "In one sentence, what is this project?", continueConversation: false);
        var second = await meter.RunAsync(cli, "conversation 2, turn 1", "List the files in this project.", continueConversation: false);
        var firstResumed = await meter.RunAsync(cli, "conversation 1, turn 2", "Which command runs its tests?", continueConversation: false, resumeSessionId: first.SessionId);
        var secondResumed = await meter.RunAsync(cli, "conversation 2, turn 2", "Which command builds it?", continueConversation: false, resumeSessionId: second.SessionId);

        Measurements.AssertConsistent(first, second, firstResumed, secondResumed);
        Assert.True(first.MainRequestTokens >= MinimumColdPromptTokens,
            $"The first turn should re-compute the whole cold prompt (~11K tokens), but llama-server re-computed {first.MainRequestTokens}: {first}");
        Assert.Equal(first.SessionId, firstResumed.SessionId);
        Assert.Equal(second.SessionId, secondResumed.SessionId);
        Assert.NotEqual(first.SessionId, second.SessionId);

        var budget = first.MainRequestTokens * 0.30;
        Measurements.Summarize(artifacts, name,
            $"conversation 1 main request {first.MainRequestTokens}, conversation 2 main request {second.MainRequestTokens}, " +
            $"conversation 1 resumed run {firstResumed.Prefill.RecomputedTokens}, conversation 2 resumed run {secondResumed.Prefill.RecomputedTokens} tokens re-computed (budget per resume <= {budget:0})");
        foreach (var resumed in new[] { firstResumed, secondResumed })
        {
            Assert.True(resumed.Prefill.RecomputedTokens <= budget,
                $"Resuming a conversation should re-compute at most its own tail (<= 30% of the first turn's {first.MainRequestTokens} = {budget:0}), " +
                $"but llama-server re-computed {resumed.Prefill.RecomputedTokens}:\n{resumed}");
        }
    }

    /// <summary>
    /// Two conversations in the same project share Claude Code's whole system prompt and tools (~9-10K tokens) except
    /// for the billing line near the start. With the gateway normalizing that line (Replace) the second conversation
    /// reuses the shared prefix; with normalization off (Keep) it must re-compute nearly everything, which is what
    /// proves this measurement can fail.
    /// </summary>
    [Theory]
    [InlineData("Replace")]
    [InlineData("Keep")]
    public async Task ClaudeCode_SecondConversationSameRepo_ReusesSharedPrefix(string billingHeader)
    {
        var name = $"{nameof(ClaudeCode_SecondConversationSameRepo_ReusesSharedPrefix)}_{billingHeader}";
        var artifacts = Toolchain.ArtifactsFor(name);
        await using var server = await LlamaServerFixture.StartAsync(new LlamaServerOptions { Slots = 4 }, artifacts);
        await using var gateway = await GatewayFixture.StartAsync([server], artifacts,
            new Dictionary<string, string?> { ["Gateway:Normalization:BillingHeader"] = billingHeader });
        using var cli = await ClaudeCli.CreateAsync(artifacts);
        var meter = new TurnMeter(server, gateway, output, artifacts);

        var conversation1 = await meter.RunAsync(cli, "conversation 1", "In one sentence, what is this project?", continueConversation: false);
        var conversation2 = await meter.RunAsync(cli, "conversation 2", "List the files in this project.", continueConversation: false);

        Measurements.AssertConsistent(conversation1, conversation2);
        Assert.True(conversation1.MainRequestTokens >= MinimumColdPromptTokens,
            $"The first conversation should re-compute the whole cold prompt (~11K tokens), but llama-server re-computed {conversation1.MainRequestTokens}: {conversation1}");
        Assert.NotEqual(conversation1.SessionId, conversation2.SessionId);

        var ratio = (double)conversation2.MainRequestTokens / conversation1.MainRequestTokens;
        Measurements.Summarize(artifacts, name,
            string.Create(CultureInfo.InvariantCulture,
                $"BillingHeader={billingHeader}: conversation 1 main request {conversation1.MainRequestTokens} (run {conversation1.Prefill.RecomputedTokens}), " +
                $"conversation 2 main request {conversation2.MainRequestTokens} (run {conversation2.Prefill.RecomputedTokens}) tokens re-computed = {ratio:P0}"));
        var detail = $"\nconversation 1:\n{conversation1}\nconversation 2:\n{conversation2}";
        if (billingHeader == "Keep")
        {
            Assert.True(ratio >= 0.70,
                $"With normalization off the second conversation's prompt differs near its start, so llama-server must re-compute >= 70% of it; it re-computed {ratio:P0}.{detail}");
        }
        else
        {
            Assert.True(ratio <= 0.30,
                $"With the billing line normalized the second conversation should reuse the shared system prompt and tools (re-compute <= 30% of the first); it re-computed {ratio:P0}.{detail}");
        }
    }
}
