using System.Globalization;
using LlamaGateway.EndToEnd.Support;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// The same Claude Code runs with no gateway: the CLI talks to llama-server's own /v1/messages. This is the baseline
/// the gateway is compared with, and it pins down the problem the gateway exists to solve.
/// </summary>
[Trait("Category", "e2e")]
public sealed class ClaudeCodeDirectBaselineTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ClaudeCode_DirectToLlamaServer_SecondConversationRecomputesWholePrompt()
    {
        const string name = nameof(ClaudeCode_DirectToLlamaServer_SecondConversationRecomputesWholePrompt);
        var artifacts = Toolchain.ArtifactsFor(name);
        await using var server = await LlamaServerFixture.StartAsync(new LlamaServerOptions { Slots = 4 }, artifacts);
        using var cli = await ClaudeCli.CreateAsync(artifacts);
        var meter = new TurnMeter(server, gateway: null, output, artifacts);

        var first = await meter.RunAsync(cli, "conversation 1, turn 1", "In one sentence, what is this project?", continueConversation: false);
        var followUp = await meter.RunAsync(cli, "conversation 1, turn 2", "Which command runs its tests?", continueConversation: true);
        var second = await meter.RunAsync(cli, "conversation 2, turn 1", "List the files in this project.", continueConversation: false);

        Measurements.AssertConsistent(first, followUp, second);
        Assert.True(first.MainRequestTokens >= ClaudeCodeThroughGatewayTests.MinimumColdPromptTokens,
            $"The first turn should re-compute the whole cold prompt (~11K tokens), but llama-server re-computed {first.MainRequestTokens}: {first}");
        var ratio = (double)second.MainRequestTokens / first.MainRequestTokens;
        Measurements.Summarize(artifacts, name, string.Create(CultureInfo.InvariantCulture,
            $"direct: conversation 1 main request {first.MainRequestTokens} (run {first.Prefill.RecomputedTokens}), follow-up run {followUp.Prefill.RecomputedTokens}, " +
            $"conversation 2 main request {second.MainRequestTokens} (run {second.Prefill.RecomputedTokens}) tokens re-computed = {ratio:P0}"));

        // Within one conversation llama-server's own prefix matching already works...
        Assert.True(followUp.Prefill.RecomputedTokens < first.MainRequestTokens * 0.05, $"Direct follow-up re-computed too much:\n{followUp}");

        // ...but the billing line's per-conversation cc_version suffix sits near the start of the prompt, so a second
        // conversation in the same project shares almost nothing with the first.
        Assert.True(ratio >= 0.70, $"Direct to llama-server the second conversation was expected to re-compute >= 70% of the first; it re-computed {ratio:P0}:\n{first}\n{second}");
    }
}
