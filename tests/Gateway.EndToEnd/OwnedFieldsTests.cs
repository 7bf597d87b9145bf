using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.EndToEnd.Support;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// Fields that reach beyond a request's own slot, on the real llama-server (4 slots, no host-RAM prompt cache, so a
/// slot's cache is only ever its own): Alice's conversation is pinned to a slot through the gateway; Bob then asks
/// for four completions (<c>n: 4</c>, <c>n_cmpl: 4</c>), for four prompts at once, for Alice's slot by id, and for no
/// cache. Through the gateway each of those is refused or owned, and Alice's next turn still finds her prompt in her
/// slot. The control sends Bob's <c>n: 4</c> to llama-server directly, which shows the measurement can fail:
/// llama-server runs the extra completions on the other idle slots, Alice's among them, and copies Bob's KV over them.
/// </summary>
[Trait("Category", "e2e")]
public sealed class OwnedFieldsTests(ITestOutputHelper output)
{
    private const string AliceKey = "alice-key-0123456789abcdef0123456789";
    private const string BobKey = "bob-key-0123456789abcdef0123456789ab";

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task FanOut_AnotherUsersNRequest_LeavesThePinnedSlotsCacheIntactOnlyThroughTheGateway(bool throughGateway)
    {
        var name = $"{nameof(FanOut_AnotherUsersNRequest_LeavesThePinnedSlotsCacheIntactOnlyThroughTheGateway)}_{(throughGateway ? "Gateway" : "Direct")}";
        var artifacts = Toolchain.ArtifactsFor(name);
        await using var server = await LlamaServerFixture.StartAsync(new LlamaServerOptions { Slots = 4, ContextPerSlot = 8192, CacheRamMiB = 0 }, artifacts);
        await using var gateway = await GatewayFixture.StartAsync([server], artifacts, new Dictionary<string, string?>
        {
            ["Gateway:Users:0:Name"] = "alice",
            ["Gateway:Users:0:ApiKey"] = AliceKey,
            ["Gateway:Users:1:Name"] = "bob",
            ["Gateway:Users:1:ApiKey"] = BobKey,
            ["Gateway:Upstreams:0:MaxOutputTokens"] = "32",
            ["Gateway:Upstreams:0:SlotSave:Enabled"] = "false",
        });
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(gateway.BaseUrl), Timeout = TimeSpan.FromMinutes(3) };

        var first = await ChatAsync(gateway, client, AliceKey, AliceBody(1));
        var aliceSlot = first.Slot;
        var report = new List<string> { $"Alice turn 1: {first}" };

        if (throughGateway)
        {
            // Each refused with a 400 naming the field; none reaches llama-server.
            var before = server.AllRequests().Count;
            foreach (var (path, body, field) in BobHostileBodies(aliceSlot))
            {
                var (status, text) = await PostAsync(client, path, BobKey, body);
                report.Add($"Bob {field}: HTTP {(int)status}");
                Assert.True(status == HttpStatusCode.BadRequest, $"Bob's {field} request: HTTP {(int)status} {text}");
                Assert.Contains(field, text, StringComparison.Ordinal);
            }

            Assert.Equal(before, server.AllRequests().Count);

            // Owned, not refused: Bob's own slot, whatever id_slot he sent, and a cache the gateway keeps on.
            var bob = await ChatAsync(gateway, client, BobKey, BobBody($$""","id_slot":{{aliceSlot}},"cache_prompt":false"""));
            report.Add($"Bob with id_slot {aliceSlot}: {bob}");
            Assert.NotEqual(aliceSlot, bob.Slot);
        }
        else
        {
            // The control: Bob's n: 4 straight to llama-server, which has no gateway to own it.
            var (status, text) = await PostAsync(server.Client, "/v1/chat/completions", null, BobBody(""","n":4"""));
            report.Add($"Bob n=4 direct: HTTP {(int)status}");
            Assert.True(status == HttpStatusCode.OK, $"llama-server should run Bob's n=4: HTTP {(int)status} {text}");
            Assert.Equal(4, JsonNode.Parse(text)!["choices"]!.AsArray().Count);
        }

        var second = await ChatAsync(gateway, client, AliceKey, AliceBody(2));
        report.Add($"Alice turn 2: {second}");
        var summary = string.Join("; ", report);
        output.WriteLine(summary);
        Measurements.Summarize(artifacts, name, summary);

        Assert.True(first.PromptTokens >= 1_500, $"Alice's first turn should be a long prompt: {summary}");
        Assert.Equal(aliceSlot, second.Slot);
        if (throughGateway)
        {
            Assert.True(second.CachedTokens >= first.PromptTokens * 0.95,
                $"Alice's second turn should find her whole first prompt in her slot: {summary}");
        }
        else
        {
            Assert.True(second.CachedTokens < first.PromptTokens * 0.2,
                $"Bob's direct n=4 should have overwritten Alice's slot (else this test cannot tell): {summary}");
        }
    }

    /// <summary>Bob's requests that would reach beyond his own slot: path, body, the field the 400 must name.</summary>
    private static IEnumerable<(string Path, string Body, string Field)> BobHostileBodies(int aliceSlot)
    {
        yield return ("/v1/chat/completions", BobBody(""","n":4"""), "n must be 1");
        yield return ("/v1/chat/completions", BobBody(""","n_cmpl":4"""), "n_cmpl must be 1");
        yield return ("/v1/chat/completions", BobBody(""","\u006e":4"""), "n must be 1");
        yield return ("/completion", """{"prompt":["Bob one","Bob two","Bob three","Bob four"],"n_predict":4}""", "prompt must be one prompt");
        yield return ("/completion", $$"""{"prompt":"Bob","n":4,"id_slot":{{aliceSlot}}}""", "n must be 1");
        yield return ("/v1/chat/completions", BobBody(""","lora":[{"id":0,"scale":1.0}]"""), "lora");
        yield return ("/v1/chat/completions", BobBody(""","temperature":1e999"""), "temperature");
    }

    private static string AliceBody(int turn)
    {
        var messages = new JsonArray { new JsonObject { ["role"] = "system", ["content"] = SyntheticPrompt.System("alice", words: 1_500) } };
        for (var i = 1; i <= turn; i++)
        {
            if (i > 1)
            {
                messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = "Done." });
            }

            messages.Add(new JsonObject { ["role"] = "user", ["content"] = $"Alice, question {i}: what does the build do?" });
        }

        return new JsonObject
        {
            ["model"] = "tiny",
            ["max_tokens"] = 8,
            ["tools"] = Tools(),
            ["messages"] = messages,
        }.ToJsonString();
    }

    /// <summary>Bob's own conversation (nothing in common with Alice's), with <paramref name="extra"/> members appended.</summary>
    private static string BobBody(string extra)
    {
        var body = new JsonObject
        {
            ["model"] = "tiny",
            ["max_tokens"] = 8,
            ["tools"] = Tools(),
            ["messages"] = new JsonArray
            {
                new JsonObject { ["role"] = "system", ["content"] = SyntheticPrompt.System("bob", words: 600) },
                new JsonObject { ["role"] = "user", ["content"] = "Bob asks: what is in this repository?" },
            },
        }.ToJsonString();
        return body[..^1] + extra + "}";
    }

    private static JsonArray Tools() =>
    [
        new JsonObject
        {
            ["type"] = "function",
            ["function"] = new JsonObject { ["name"] = "Read", ["description"] = "Reads a file from disk.", ["parameters"] = new JsonObject { ["type"] = "object" } },
        },
    ];

    /// <summary>One chat completion through the gateway: the slot it pinned (from its log) and what llama-server reused.</summary>
    private static async Task<Turn> ChatAsync(GatewayFixture gateway, HttpClient client, string key, string body)
    {
        const string route = "/v1/chat/completions";
        var served = gateway.Requests.Count(r => r.Route == route && r.Served);
        var (status, text) = await PostAsync(client, route, key, body);
        Assert.True(status == HttpStatusCode.OK, $"HTTP {(int)status} {text}");
        var answer = JsonNode.Parse(text)!;
        var timings = answer["timings"]!;
        var cached = timings["cache_n"]!.GetValue<int>();
        var prompt = timings["prompt_n"]!.GetValue<int>() + cached;
        await Poll.UntilAsync("the gateway to log the request", TimeSpan.FromSeconds(10), () =>
            Task.FromResult((gateway.Requests.Count(r => r.Route == route && r.Served) > served, string.Join(" | ", gateway.Requests))));
        var slot = int.Parse(gateway.Requests.Last(r => r.Route == route && r.Served).Slot, CultureInfo.InvariantCulture);
        return new Turn(slot, prompt, cached);
    }

    private static async Task<(HttpStatusCode Status, string Text)> PostAsync(HttpClient client, string path, string? key, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private sealed record Turn(int Slot, int PromptTokens, int CachedTokens)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"slot {Slot}, {PromptTokens} prompt tokens, {CachedTokens} cached");
    }
}
