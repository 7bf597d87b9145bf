using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.EndToEnd.Support;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// Gateway:Isolation against a real llama-server with one slot, <c>--slot-save-path</c> and no host-RAM prompt cache
/// (<c>--cache-ram 0</c>, as docs/security.md asks for PerUser): alice sends a conversation, then bob sends the very
/// same prompt (a new conversation of his), then alice returns. Shared: bob finds alice's tokens in the slot and
/// re-computes almost nothing, which is the prompt-cache timing side channel (his time to first token tells him what
/// she sent). PerUser: bob's request goes with cache_prompt false and llama-server computes all of it, as if the slot
/// were empty; alice's own saved state is restored and she re-computes only her new tokens. Re-computed tokens are
/// read from llama-server's own /metrics and log.
/// </summary>
[Trait("Category", "e2e")]
public sealed class IsolationTests(ITestOutputHelper output)
{
    private const string AliceKey = "sk-e2e-alice-3f9b2c7d1e";
    private const string BobKey = "sk-e2e-bob-8a4e6f0c2b";

    /// <summary>The prompt is ~3,000 tokens; far below means the measurement saw the wrong thing.</summary>
    private const long MinimumColdPromptTokens = 2_000;

    [Theory]
    [InlineData("Shared")]
    [InlineData("PerUser")]
    public async Task Isolation_OtherUserSendsTheSamePrompt_ReusesItOnlyWhenShared(string isolation)
    {
        var name = $"{nameof(Isolation_OtherUserSendsTheSamePrompt_ReusesItOnlyWhenShared)}_{isolation}";
        var artifacts = Toolchain.ArtifactsFor(name);
        var saveDirectory = Path.Combine(Path.GetTempPath(), "llama-gateway-slots-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var server = await LlamaServerFixture.StartAsync(new LlamaServerOptions
            {
                Slots = 1,
                ContextPerSlot = 8192,
                CacheRamMiB = 0,
                SlotSavePath = saveDirectory,
            }, artifacts);
            await using var gateway = await GatewayFixture.StartAsync([server], artifacts, new Dictionary<string, string?>
            {
                ["Gateway:Isolation"] = isolation,
                ["Gateway:Upstreams:0:SlotSave:Enabled"] = "true",
                ["Gateway:Users:0:Name"] = "alice",
                ["Gateway:Users:0:ApiKey"] = AliceKey,
                ["Gateway:Users:1:Name"] = "bob",
                ["Gateway:Users:1:ApiKey"] = BobKey,
            });
            using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(gateway.BaseUrl), Timeout = TimeSpan.FromMinutes(3) };

            var alice1 = await TurnAsync(server, client, AliceKey, 1);
            var bob1 = await TurnAsync(server, client, BobKey, 1);
            var alice2 = await TurnAsync(server, client, AliceKey, 2);
            var reasons = (await gateway.WaitForRequestsAsync("/v1/messages", 3)).Select(r => r.Reason).ToList();

            var summary = string.Create(CultureInfo.InvariantCulture,
                $"Isolation={isolation}: alice cold {alice1.Recomputed} tokens re-computed, bob's identical prompt {bob1.Recomputed} (cache_read_input_tokens {bob1.CacheRead}), " +
                $"alice returning {alice2.Recomputed} (cache_read_input_tokens {alice2.CacheRead}); gateway reasons [{string.Join(", ", reasons)}]");
            output.WriteLine(summary);
            output.WriteLine(string.Join('\n', alice1.Report, bob1.Report, alice2.Report));
            Measurements.Summarize(artifacts, name, summary);

            Assert.True(alice1.Recomputed >= MinimumColdPromptTokens, $"alice's first turn should re-compute her whole ~3,000-token prompt: {summary}");
            if (isolation == "Shared")
            {
                Assert.True(bob1.Recomputed <= alice1.Recomputed * 0.05, $"Shared: bob's identical prompt should reuse alice's tokens: {summary}");
                Assert.True(alice2.Recomputed <= alice1.Recomputed * 0.05, $"Shared: alice finds her prompt in the slot as bob left it: {summary}");
            }
            else
            {
                Assert.True(bob1.Recomputed >= alice1.Recomputed * 0.95, $"PerUser: bob must re-compute his whole prompt, however alike alice's: {summary}");
                Assert.True(bob1.CacheRead <= 16, $"PerUser: bob must be told of no cached tokens: {summary}");
                Assert.Equal("evict-least-valuable+isolated+saved", reasons[1]);
                Assert.True(alice2.Recomputed <= alice1.Recomputed * 0.05, $"PerUser: alice's own state is restored and reused: {summary}");
                Assert.EndsWith("+isolated+saved+restored", reasons[2], StringComparison.Ordinal);
            }
        }
        finally
        {
            if (Directory.Exists(saveDirectory))
            {
                Directory.Delete(saveDirectory, recursive: true);
            }
        }
    }

    /// <summary>Sends turn <paramref name="turn"/> of the shared conversation with <paramref name="key"/> and measures it on llama-server.</summary>
    private static async Task<(long Recomputed, long CacheRead, string Report)> TurnAsync(LlamaServerFixture server, HttpClient client, string key, int turn)
    {
        var mark = await server.MarkAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(Body(turn), Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        request.Headers.Add("x-api-key", key);
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"turn {turn}: {(int)response.StatusCode} {text}\nllama-server log ends:\n{server.Tail(15)}");
        var prefill = await server.MeasureSinceAsync(mark);
        Assert.True(prefill.RecomputedTokens == prefill.LoggedRecomputedTokens, $"turn {turn}: llamacpp:prompt_tokens_total and the log disagree: {prefill}");
        using var answer = JsonDocument.Parse(text);
        var cacheRead = answer.RootElement.GetProperty("usage").TryGetProperty("cache_read_input_tokens", out var read) ? read.GetInt64() : 0;
        return (prefill.RecomputedTokens, cacheRead, $"turn {turn}: {prefill}");
    }

    /// <summary>A Claude Code-like request (~3,000-token system prompt and a tool), <paramref name="turn"/> user messages long.</summary>
    private static string Body(int turn)
    {
        var messages = new JsonArray();
        for (var i = 1; i <= turn; i++)
        {
            if (i > 1)
            {
                messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = "Done." });
            }

            messages.Add(new JsonObject { ["role"] = "user", ["content"] = $"Question {i}: what does the build do?" });
        }

        return new JsonObject
        {
            ["model"] = "claude-sonnet-4",
            ["max_tokens"] = 16,
            ["system"] = SyntheticPrompt.System("the team's repository", words: 1_500),
            ["tools"] = new JsonArray { new JsonObject { ["name"] = "Read", ["description"] = "Reads a file from disk.", ["input_schema"] = new JsonObject { ["type"] = "object" } } },
            ["messages"] = messages,
        }.ToJsonString();
    }
}
