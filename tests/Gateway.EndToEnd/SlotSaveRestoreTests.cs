using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.EndToEnd.Support;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// Slot save/restore against a real llama-server with one slot, <c>--slot-save-path</c> and no host-RAM prompt cache
/// (<c>--cache-ram 0</c>, which would otherwise restore the prompt itself): conversation A, then conversation B takes
/// the only slot, then A returns. With <c>SlotSave</c> on the gateway saves A before B evicts it and restores it
/// before A's return, so llama-server re-computes only A's new tokens; with it off it re-computes all of A, which is
/// what proves the measurement can fail. Re-computed tokens are read from llama-server's own /metrics and log.
/// </summary>
[Trait("Category", "e2e")]
public sealed class SlotSaveRestoreTests(ITestOutputHelper output)
{
    /// <summary>A's prompt is ~3,000 tokens; far below means the measurement saw the wrong thing.</summary>
    private const long MinimumColdPromptTokens = 2_000;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SlotSave_ConversationEvictedThenReturning_RecomputesOnlyNewTokensWhenRestored(bool slotSave)
    {
        var name = $"{nameof(SlotSave_ConversationEvictedThenReturning_RecomputesOnlyNewTokensWhenRestored)}_{(slotSave ? "On" : "Off")}";
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
                ["Gateway:Upstreams:0:SlotSave:Enabled"] = slotSave ? "true" : "false",
            });
            using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(gateway.BaseUrl), Timeout = TimeSpan.FromMinutes(3) };

            var a1 = await TurnAsync(server, client, "A", 1);
            var b1 = await TurnAsync(server, client, "B", 1);
            var a2 = await TurnAsync(server, client, "A", 2);
            var reasons = (await gateway.WaitForRequestsAsync("/v1/messages", 3)).Select(r => r.Reason).ToList();
            var files = Directory.GetFiles(saveDirectory).Select(f => $"{Path.GetFileName(f)} ({new FileInfo(f).Length:N0} B)").ToList();

            var summary = string.Create(CultureInfo.InvariantCulture,
                $"SlotSave={(slotSave ? "on" : "off")}: A cold {a1.Recomputed} tokens re-computed, B {b1.Recomputed}, A returning {a2.Recomputed} " +
                $"({(double)a2.Recomputed / a1.Recomputed:P0} of A's cold prompt; response cache_read_input_tokens {a2.CacheRead}); gateway reasons [{string.Join(", ", reasons)}]; " +
                $"save directory [{string.Join(", ", files)}]");
            output.WriteLine(summary);
            output.WriteLine(string.Join('\n', a1.Report, b1.Report, a2.Report));
            Measurements.Summarize(artifacts, name, summary);

            Assert.True(a1.Recomputed >= MinimumColdPromptTokens, $"A's first turn should re-compute its whole ~3,000-token prompt: {summary}");
            Assert.True(b1.Recomputed >= MinimumColdPromptTokens, $"B shares nothing with A, so it should re-compute its whole prompt: {summary}");
            Assert.Equal(3, reasons.Count);
            if (slotSave)
            {
                Assert.True(a2.Recomputed <= a1.Recomputed * 0.05,
                    $"With A's state restored from disk, A's return should re-compute only its new tokens (<= 5% of {a1.Recomputed}): {summary}");
                Assert.EndsWith("+saved", reasons[1], StringComparison.Ordinal);
                Assert.EndsWith("+saved+restored", reasons[2], StringComparison.Ordinal);
                Assert.Contains(files, f => f.StartsWith("llama-gateway-llama-0-0.bin", StringComparison.Ordinal));
                Assert.True(a2.CacheRead >= a1.Recomputed * 0.9, $"llama-server should report A's restored prompt as cached: {summary}");
            }
            else
            {
                Assert.True(a2.Recomputed >= a1.Recomputed * 0.9,
                    $"Without slot save, B overwrote A's only copy (no RAM cache), so A's return must re-compute nearly all of it: {summary}");
                Assert.DoesNotContain(reasons, r => r.Contains('+', StringComparison.Ordinal));
                Assert.Empty(files);
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

    /// <summary>Sends turn <paramref name="turn"/> of conversation <paramref name="conversation"/> and measures it on llama-server.</summary>
    private static async Task<(long Recomputed, long CacheRead, string Report)> TurnAsync(LlamaServerFixture server, HttpClient client, string conversation, int turn)
    {
        var mark = await server.MarkAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(Body(conversation, turn), Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{conversation} turn {turn}: {(int)response.StatusCode} {text}\nllama-server log ends:\n{server.Tail(15)}");
        var prefill = await server.MeasureSinceAsync(mark);
        Assert.True(prefill.RecomputedTokens == prefill.LoggedRecomputedTokens,
            $"{conversation} turn {turn}: llamacpp:prompt_tokens_total and the log disagree: {prefill}");
        using var answer = JsonDocument.Parse(text);
        var cacheRead = answer.RootElement.GetProperty("usage").TryGetProperty("cache_read_input_tokens", out var read) ? read.GetInt64() : 0;
        return (prefill.RecomputedTokens, cacheRead, $"{conversation} turn {turn}: {prefill}");
    }

    /// <summary>
    /// A Claude Code-like request: a long system prompt of its own (~3,000 tokens of varied words) and a tool, then
    /// <paramref name="turn"/> user messages with the assistant's answer between them, so each turn extends the last.
    /// </summary>
    private static string Body(string conversation, int turn)
    {
        var messages = new JsonArray();
        for (var i = 1; i <= turn; i++)
        {
            if (i > 1)
            {
                messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = "Done." });
            }

            messages.Add(new JsonObject { ["role"] = "user", ["content"] = $"Conversation {conversation}, question {i}: what does the build do?" });
        }

        return new JsonObject
        {
            ["model"] = "claude-sonnet-4",
            ["max_tokens"] = 16,
            ["system"] = SyntheticPrompt.System(conversation, words: 1_500),
            ["tools"] = new JsonArray { new JsonObject { ["name"] = "Read", ["description"] = "Reads a file from disk.", ["input_schema"] = new JsonObject { ["type"] = "object" } } },
            ["messages"] = messages,
        }.ToJsonString();
    }
}
