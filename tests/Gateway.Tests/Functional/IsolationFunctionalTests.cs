using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.Conversations;
using LlamaGateway.Tests.Auth;
using LlamaGateway.Tests.Reliability;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Functional;

/// <summary>
/// Identity per user through the real gateway on Kestrel: conversations, session ids and saved slot states belong to
/// one user (or, on an open gateway, one Claude Code installation), and Gateway:Isolation PerUser keeps every request
/// off other users' cached tokens. What the gateway decided is read from what the fake llama-server received
/// (<c>id_slot</c>, <c>cache_prompt</c>, slot save and restore calls).
/// </summary>
public sealed class IsolationFunctionalTests
{
    private const string ChatPath = "/v1/chat/completions";

    /// <summary>
    /// Answers chat completions like llama-server (<paramref name="promptTokens"/> prompt tokens, 5 generated) and slot
    /// saves and restores (3,005 tokens).
    /// </summary>
    private static async Task<FakeUpstream> StartUpstreamAsync(int slots, int promptTokens = 3000)
    {
        var upstream = await FakeUpstream.StartAsync((http, request) => AnswerAsync(http, request, promptTokens));
        upstream.TotalSlots = slots;
        return upstream;
    }

    private static async Task AnswerAsync(HttpContext http, RecordedRequest request, int promptTokens)
    {
        http.Response.ContentType = "application/json";
        if (request.Path.StartsWith("/slots/", StringComparison.Ordinal))
        {
            var fileName = JsonDocument.Parse(request.Body).RootElement.GetProperty("filename").GetString();
            await http.Response.WriteAsync(http.Request.Query["action"] == "save"
                ? $$$"""{"id_slot":0,"filename":"{{{fileName}}}","n_saved":3005,"n_written":12020000,"timings":{"save_ms":12.5}}"""
                : $$$"""{"id_slot":0,"filename":"{{{fileName}}}","n_restored":3005,"n_read":12020000,"timings":{"restore_ms":8.0}}""");
            return;
        }

        await http.Response.WriteAsync($$$"""{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":{{{promptTokens}}},"completion_tokens":5,"total_tokens":{{{promptTokens + 5}}},"prompt_tokens_details":{"cached_tokens":0}},"timings":{"cache_n":0,"prompt_n":{{{promptTokens}}},"prompt_ms":300.0,"predicted_n":5,"predicted_ms":10.0}}""");
    }

    private static Task<GatewayHost> StartGatewayAsync(FakeUpstream upstream, int slots, string isolation, bool keyed = true, IDictionary<string, string?>? extra = null)
    {
        var settings = keyed ? TeamGateway.Settings() : [];
        settings["Gateway:Upstreams:0:Slots"] = slots.ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Gateway:Routing:SideLaneSlots"] = "0";
        settings["Gateway:Isolation"] = isolation;
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return GatewayHost.StartAsync(upstream.BaseUrl, settings, "openai");
    }

    /// <summary>
    /// Turn <paramref name="turn"/> of conversation <paramref name="name"/> (its own ~6,000-character system prompt and
    /// a tool, each turn extending the previous), sent as <paramref name="user"/>: with a key when the gateway is keyed,
    /// else as that Claude Code installation (metadata.user_id's device_id).
    /// </summary>
    private static HttpRequestMessage Turn(string user, string name, int turn, bool keyed = true, string? session = null)
    {
        var messages = new JsonArray();
        for (var i = 1; i <= turn; i++)
        {
            if (i > 1)
            {
                messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = "ok" });
            }

            messages.Add(new JsonObject { ["role"] = "user", ["content"] = $"conversation {name}, question {i}" });
        }

        var body = new JsonObject
        {
            ["model"] = "claude-sonnet",
            ["max_tokens"] = 256,
            ["system"] = $"You are the assistant of conversation {name}. " + string.Concat(Enumerable.Repeat($"Rule {name}: be brief and exact. ", 200)),
            ["tools"] = new JsonArray { new JsonObject { ["name"] = "Read", ["description"] = "Reads a file", ["input_schema"] = new JsonObject { ["type"] = "object" } } },
            ["messages"] = messages,
            ["metadata"] = new JsonObject { ["user_id"] = JsonSerializer.Serialize(new Dictionary<string, string> { ["device_id"] = $"device-of-{user}" }) },
        };
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages?beta=true") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        if (keyed)
        {
            request.Headers.Add("x-api-key", user == "alice" ? TeamGateway.AliceKey : TeamGateway.BobKey);
        }

        if (session is not null)
        {
            request.Headers.Add("X-Claude-Code-Session-Id", session);
        }

        return request;
    }

    private static async Task SendOkAsync(GatewayHost gateway, HttpRequestMessage request)
    {
        using (request)
        {
            using var response = await gateway.Client.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>The model requests the upstream received, in order: (id_slot, cache_prompt).</summary>
    private static List<(int Slot, bool CachePrompt)> Chats(FakeUpstream upstream) =>
        [.. upstream.Requests.Where(r => r.Path == ChatPath).Select(r =>
        {
            var root = JsonDocument.Parse(r.Body).RootElement;
            return (root.GetProperty("id_slot").GetInt32(), root.GetProperty("cache_prompt").GetBoolean());
        })];

    /// <summary>The reasons the gateway logged for its model requests, in completion order.</summary>
    private static async Task<List<string>> ReasonsAsync(GatewayHost gateway, int count)
    {
        List<string> reasons = [];
        await Poll.UntilAsync(() =>
        {
            reasons = [.. gateway.Logs.Lines.Where(l => l.Contains("Reason=", StringComparison.Ordinal) && l.Contains("Route=/v1/messages", StringComparison.Ordinal))
                .Select(l => Between(l + " ", "Reason=", " "))];
            return reasons.Count >= count;
        }, $"{count} requests to be logged");
        return reasons;
    }

    private static string Between(string text, string start, string end)
    {
        var from = text.IndexOf(start, StringComparison.Ordinal) + start.Length;
        return text[from..text.IndexOf(end, from, StringComparison.Ordinal)];
    }

    [Theory]
    [InlineData(true, "Shared")]
    [InlineData(true, "PerUser")]
    [InlineData(false, "Shared")]
    [InlineData(false, "PerUser")]
    public async Task Messages_TwoUsersWithIdenticalContent_EachGetsPastTurnOneAndStaysPinned(bool keyed, string isolation)
    {
        await using var upstream = await StartUpstreamAsync(4);
        await using var gateway = await StartGatewayAsync(upstream, 4, isolation, keyed);

        // Interleaved turns of the same content: each user's next turn must find that user's own conversation.
        for (var turn = 1; turn <= 3; turn++)
        {
            await SendOkAsync(gateway, Turn("alice", "same", turn, keyed));
            await SendOkAsync(gateway, Turn("bob", "same", turn, keyed));
        }

        var conversations = gateway.Service<ConversationTable>().Snapshot();
        Assert.Equal(2, conversations.Count);
        Assert.All(conversations, c => Assert.Equal(3, c.Turns));
        Assert.All(conversations, c => Assert.Equal(0, c.Repins));
        Assert.Equal(keyed ? ["alice", "bob"] : ["device-of-alice", "device-of-bob"], conversations.Select(c => c.Owner).Order());

        var chats = Chats(upstream);
        Assert.Equal(chats[0].Slot, chats[2].Slot);
        Assert.Equal(chats[0].Slot, chats[4].Slot);
        Assert.Equal(chats[1].Slot, chats[3].Slot);
        Assert.Equal(chats[1].Slot, chats[5].Slot);

        // Shared: identical prompts may share one slot (each finds the whole prompt there). PerUser: the second user
        // never shares the first one's slot, however alike their prompts, and each returns to its own.
        if (isolation == "PerUser")
        {
            Assert.NotEqual(chats[0].Slot, chats[1].Slot);
            Assert.All((await ReasonsAsync(gateway, 6)).Skip(2), r => Assert.Equal("own-slot", r));
        }
    }

    [Theory]
    [InlineData("Shared")]
    [InlineData("PerUser")]
    public async Task Messages_OtherUserReplaysSessionIdAndPrefix_OwnersNextTurnStaysPinned(string isolation)
    {
        await using var upstream = await StartUpstreamAsync(4);
        await using var gateway = await StartGatewayAsync(upstream, 4, isolation);
        await SendOkAsync(gateway, Turn("alice", "hers", 1, session: "session-alice"));
        await SendOkAsync(gateway, Turn("alice", "hers", 2, session: "session-alice"));

        // Bob replays her session id with her prompt, then extends it, then starts a new chain in her session.
        await SendOkAsync(gateway, Turn("bob", "hers", 2, session: "session-alice"));
        await SendOkAsync(gateway, Turn("bob", "hers", 3, session: "session-alice"));
        await SendOkAsync(gateway, Turn("bob", "other", 1, session: "session-alice"));

        await SendOkAsync(gateway, Turn("alice", "hers", 3, session: "session-alice"));

        var conversations = gateway.Service<ConversationTable>().Snapshot();
        var hers = Assert.Single(conversations, c => c.Owner == "alice");
        Assert.Equal(3, hers.Turns);
        Assert.Equal(0, hers.Repins);
        var chats = Chats(upstream);
        Assert.Equal(chats[0].Slot, chats[1].Slot);
        Assert.Equal(chats[0].Slot, chats[^1].Slot);

        // Under PerUser bob's copies went elsewhere, so her slot is still hers alone.
        if (isolation == "PerUser")
        {
            Assert.All(chats.Skip(2).Take(3), c => Assert.NotEqual(chats[0].Slot, c.Slot));
            Assert.Equal("own-slot", (await ReasonsAsync(gateway, 6))[^1]);
        }
    }

    [Fact]
    public async Task Messages_OtherUserStartsManyConversations_OwnersConversationsStay()
    {
        await using var upstream = await StartUpstreamAsync(4);
        await using var gateway = await StartGatewayAsync(upstream, 4, "Shared", extra: new Dictionary<string, string?> { ["Gateway:Routing:MaxConversations"] = "100" });
        for (var c = 0; c < 3; c++)
        {
            await SendOkAsync(gateway, Turn("alice", $"alice-{c}", 1));
        }

        // Three times the whole table's limit, from one user.
        for (var c = 0; c < 300; c++)
        {
            await SendOkAsync(gateway, Turn("bob", $"bob-{c}", 1));
        }

        for (var c = 0; c < 3; c++)
        {
            await SendOkAsync(gateway, Turn("alice", $"alice-{c}", 2));
        }

        var table = gateway.Service<ConversationTable>();
        Assert.Equal(50, table.CountFor("bob"));
        var hers = table.Snapshot().Where(c => c.Owner == "alice").ToList();
        Assert.Equal(3, hers.Count);
        Assert.All(hers, c => Assert.Equal(2, c.Turns));
    }

    [Theory]
    [InlineData("Shared", true)]
    [InlineData("PerUser", false)]
    public async Task Messages_NewUserWithTheWarmSlotsPrompt_IsPlacedThereOnlyWhenShared(string isolation, bool shares)
    {
        // A prompt of few tokens: alice's slot holds all of bob's prompt, and giving it to him costs her nothing he
        // does not also compute, so under Shared it is cheaper for him than the empty slot.
        await using var upstream = await StartUpstreamAsync(2, promptTokens: 100);
        await using var gateway = await StartGatewayAsync(upstream, 2, isolation);
        await SendOkAsync(gateway, Turn("alice", "same", 1));

        await SendOkAsync(gateway, Turn("bob", "same", 1));

        var chats = Chats(upstream);
        Assert.Equal(shares, chats[0].Slot == chats[1].Slot);

        // Shared: bob reuses what alice computed. PerUser: every request on a slot not known to hold its own tokens
        // (alice's first, on an empty slot, too) goes with cache_prompt false.
        Assert.Equal([shares, shares], chats.Select(c => c.CachePrompt));
        using var status = await gateway.Client.SendAsync(TeamGateway.Get("/status.json", TeamGateway.AdminKey));
        Assert.Equal(isolation, JsonDocument.Parse(await status.Content.ReadAsStringAsync()).RootElement.GetProperty("isolation").GetString());
    }

    [Theory]
    [InlineData("Shared")]
    [InlineData("PerUser")]
    public async Task Messages_OneSlotWithSavedStates_RestoresAnotherUsersStateOnlyWhenShared(string isolation)
    {
        await using var upstream = await StartUpstreamAsync(1);
        await using var gateway = await StartGatewayAsync(upstream, 1, isolation, extra: new Dictionary<string, string?> { ["Gateway:Upstreams:0:SlotSave:Enabled"] = "true" });

        await SendOkAsync(gateway, Turn("alice", "A", 1));
        await SendOkAsync(gateway, Turn("bob", "X", 1));

        // Bob starts a conversation identical to alice's, whose state is saved; then alice returns.
        await SendOkAsync(gateway, Turn("bob", "A", 1));
        await SendOkAsync(gateway, Turn("alice", "A", 2));
        await Poll.UntilAsync(() => upstream.Requests.Count(r => r.Path == ChatPath) >= 4, "the fake to record every request");

        var calls = Calls(upstream);
        var alicesFile = "llama-gateway-fake-0.bin";
        if (isolation == "Shared")
        {
            // Bob's new conversation restores alice's state; alice then finds her prompt in the slot as bob left it.
            Assert.Equal(["chat A true", $"save {alicesFile}", "chat X true", "save llama-gateway-fake-1.bin", $"restore {alicesFile}", "chat A true", "chat A true"], calls);
        }
        else
        {
            // Bob never restores alice's file; alice restores her own, and only then reuses the slot.
            Assert.Equal(["chat A false", $"save {alicesFile}", "chat X false", "save llama-gateway-fake-1.bin", "chat A false", "save llama-gateway-fake-2.bin", $"restore {alicesFile}", "chat A true"], calls);
            Assert.Equal("evict-least-valuable+isolated+saved+restored", (await ReasonsAsync(gateway, 4))[^1]);
        }
    }

    /// <summary>
    /// What the upstream received: "save|restore file" for slot calls and "chat X cache_prompt" for model requests of
    /// conversation X. A request forwarded during its restore (SlotSave:ForwardDuringRestore) may be recorded just
    /// before the restore; it is put back after it.
    /// </summary>
    private static List<string> Calls(FakeUpstream upstream)
    {
        var calls = upstream.Requests.Select(r =>
        {
            var root = JsonDocument.Parse(r.Body).RootElement;
            return r.Path.StartsWith("/slots/", StringComparison.Ordinal)
                ? $"{(r.Path.EndsWith("save", StringComparison.Ordinal) ? "save" : "restore")} {root.GetProperty("filename").GetString()}"
                : r.Path == ChatPath ? $"chat {Between(r.BodyText, "conversation ", ".")} {(root.GetProperty("cache_prompt").GetBoolean() ? "true" : "false")}" : r.Path;
        }).ToList();
        for (var i = 0; i + 1 < calls.Count; i++)
        {
            if (calls[i].StartsWith("chat ", StringComparison.Ordinal) && calls[i + 1].StartsWith("restore ", StringComparison.Ordinal))
            {
                (calls[i], calls[i + 1]) = (calls[i + 1], calls[i]);
                i++;
            }
        }

        return calls;
    }
}
