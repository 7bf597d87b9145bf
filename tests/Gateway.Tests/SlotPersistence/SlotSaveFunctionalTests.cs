using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.Tests.Reliability;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Tests.SlotPersistence;

/// <summary>
/// The real gateway on Kestrel in front of a fake one-slot llama-server that records every call, so the order of
/// slot saves, restores and forwarded requests is what the upstream actually saw.
/// </summary>
public sealed class SlotSaveFunctionalTests
{
    private const string ChatPath = "/v1/chat/completions";
    private const string SavePath = "/slots/0?action=save";
    private const string RestorePath = "/slots/0?action=restore";

    /// <summary>Answers model requests like llama-server (3,000 prompt tokens) and slot calls with <paramref name="slots"/>.</summary>
    private static async Task<FakeUpstream> StartUpstreamAsync(Func<HttpContext, string, Task>? slots = null)
    {
        var upstream = await FakeUpstream.StartAsync(async (http, request) =>
        {
            http.Response.ContentType = "application/json";
            if (request.Path.StartsWith("/slots/", StringComparison.Ordinal))
            {
                var fileName = JsonDocument.Parse(request.Body).RootElement.GetProperty("filename").GetString()!;
                await (slots ?? AnswerSlotAsync)(http, fileName);
                return;
            }

            await http.Response.WriteAsync("""{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3000,"completion_tokens":5,"total_tokens":3005,"prompt_tokens_details":{"cached_tokens":0}},"timings":{"cache_n":0,"prompt_n":3000,"prompt_ms":300.0,"predicted_n":5,"predicted_ms":10.0}}""");
        });
        upstream.TotalSlots = 1;
        return upstream;
    }

    /// <summary>llama-server's answers to a successful save or restore.</summary>
    private static Task AnswerSlotAsync(HttpContext http, string fileName) =>
        http.Request.Query["action"] == "save"
            ? http.Response.WriteAsync($$$"""{"id_slot":0,"filename":"{{{fileName}}}","n_saved":3005,"n_written":12020000,"timings":{"save_ms":12.5}}""")
            : http.Response.WriteAsync($$$"""{"id_slot":0,"filename":"{{{fileName}}}","n_restored":3005,"n_read":12020000,"timings":{"restore_ms":8.0}}""");

    private static Task AnswerErrorAsync(HttpContext http, int status, string message)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsync(new JsonObject { ["error"] = new JsonObject { ["code"] = status, ["message"] = message, ["type"] = "server_error" } }.ToJsonString());
    }

    private static Task<GatewayHost> StartGatewayAsync(FakeUpstream upstream, IDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:Slots"] = "1",
            ["Gateway:Upstreams:0:SlotSave:Enabled"] = "true",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return GatewayHost.StartAsync(upstream.BaseUrl, settings);
    }

    /// <summary>
    /// A turn of conversation <paramref name="name"/>: its own ~6,000-character system prompt and a tool, then
    /// <paramref name="turn"/> user messages with the assistant's "ok" between them (each turn extends the previous).
    /// </summary>
    private static HttpRequestMessage Turn(string name, int turn)
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
        };
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    private static async Task SendOkAsync(GatewayHost gateway, string name, int turn)
    {
        using var response = await gateway.Client.SendAsync(Turn(name, turn));
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{name} turn {turn}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>
    /// What the upstream received, as "path" or "path file" for slot calls, and "chat X" for model requests of
    /// conversation X. With <c>SlotSave:ForwardDuringRestore</c> (on by default) a request is forwarded as soon as its
    /// restore call is on the wire, and this fake records each call once its handler has read the body, which two
    /// connections may do in either order; so a model request recorded just before a restore is put back after it.
    /// That the gateway forwards only once the restore is sent is <see cref="Messages_RestoreUnanswered_RequestIsForwardedAlready"/>;
    /// the order llama-server itself runs them in, the end-to-end SlotSaveRestoreTests.
    /// </summary>
    private static List<string> Calls(FakeUpstream upstream)
    {
        var calls = upstream.Requests.Select(r =>
            r.Path.StartsWith("/slots/", StringComparison.Ordinal)
                ? r.Path + " " + JsonDocument.Parse(r.Body).RootElement.GetProperty("filename").GetString()
                : r.Path == ChatPath ? "chat " + Between(r.BodyText, "conversation ", ".") : r.Path).ToList();
        for (var i = 0; i + 1 < calls.Count; i++)
        {
            if (calls[i].StartsWith("chat ", StringComparison.Ordinal) && calls[i + 1].StartsWith(RestorePath, StringComparison.Ordinal))
            {
                (calls[i], calls[i + 1]) = (calls[i + 1], calls[i]);
                i++;
            }
        }

        return calls;
    }

    private static string Between(string text, string start, string end)
    {
        var from = text.IndexOf(start, StringComparison.Ordinal) + start.Length;
        return text[from..text.IndexOf(end, from, StringComparison.Ordinal)];
    }

    /// <summary>The reasons the gateway logged for its requests, in completion order.</summary>
    private static async Task<List<string>> ReasonsAsync(GatewayHost gateway, int count)
    {
        List<string> reasons = [];
        await Poll.UntilAsync(() =>
        {
            reasons = gateway.Logs.Lines.Where(l => l.Contains("Reason=", StringComparison.Ordinal) && l.Contains("Route=/v1/messages", StringComparison.Ordinal))
                .Select(l => Between(l + " ", "Reason=", " ")).ToList();
            return reasons.Count >= count;
        }, $"{count} requests to be logged");
        return reasons;
    }

    private static async Task<JsonElement> SlotSaveStatusAsync(GatewayHost gateway)
    {
        var text = await gateway.Client.GetStringAsync("/status.json");
        return JsonDocument.Parse(text).RootElement.GetProperty("instances")[0].GetProperty("slotSave").Clone();
    }

    [Fact]
    public async Task Messages_ConversationEvictedThenReturning_SavesBeforeEvictingAndRestoresBeforeReturn()
    {
        await using var upstream = await StartUpstreamAsync();
        await using var gateway = await StartGatewayAsync(upstream);

        await SendOkAsync(gateway, "A", 1);
        await SendOkAsync(gateway, "B", 1);
        await SendOkAsync(gateway, "A", 2);

        var a = "llama-gateway-fake-0.bin";
        var b = "llama-gateway-fake-1.bin";
        Assert.Equal([$"chat A", $"{SavePath} {a}", "chat B", $"{SavePath} {b}", $"{RestorePath} {a}", "chat A"], Calls(upstream));
        var reasons = await ReasonsAsync(gateway, 3);
        Assert.Equal(["empty-slot", "evict-least-valuable+saved", "evict-least-valuable+saved+restored"], reasons);
        var waited = gateway.Logs.Lines.Where(l => l.Contains("Reason=", StringComparison.Ordinal) && l.Contains("Route=/v1/messages", StringComparison.Ordinal))
            .Select(l => Between(l, "Waited=", " RequestBytes=")).ToList();
        Assert.Equal("no wait", waited[0]);
        Assert.All(waited.Skip(1), w => Assert.Matches("^slot save/restore [0-9]+ ms$", w));
        var status = await SlotSaveStatusAsync(gateway);
        Assert.True(status.GetProperty("supported").GetBoolean());
        Assert.Equal(2, status.GetProperty("saves").GetInt64());
        Assert.Equal(1, status.GetProperty("restores").GetInt64());
        Assert.Equal(3005, status.GetProperty("tokensRestored").GetInt64());
        Assert.Equal(2 * 12_020_000L, status.GetProperty("bytesOnDisk").GetInt64());
        var metrics = await gateway.Client.GetStringAsync("/metrics");
        Assert.Contains("gateway_slot_restores_total{instance=\"fake\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("gateway_slot_saves_total{instance=\"fake\"} 2", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Messages_RestoreUnanswered_RequestIsForwardedAlready()
    {
        // The restore is answered only once the returning conversation's request has arrived: a gateway that waited
        // for the answer would never send it, and the restore would give up after 10 s.
        var returning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var restoreAnsweredEarly = false;
        await using var upstream = await StartUpstreamAsync(async (http, fileName) =>
        {
            if (http.Request.Query["action"] == "restore")
            {
                try
                {
                    await returning.Task.WaitAsync(TimeSpan.FromSeconds(10));
                }
                catch (TimeoutException)
                {
                    restoreAnsweredEarly = true;
                }
            }

            await AnswerSlotAsync(http, fileName);
        });
        var answerModel = upstream.Handler;
        upstream.Handler = async (http, request) =>
        {
            if (request.Path == ChatPath && request.BodyText.Contains("question 2", StringComparison.Ordinal))
            {
                returning.TrySetResult();
            }

            await answerModel(http, request);
        };
        await using var gateway = await StartGatewayAsync(upstream);

        await SendOkAsync(gateway, "A", 1);
        await SendOkAsync(gateway, "B", 1);
        await SendOkAsync(gateway, "A", 2);

        // The client's response can end before the fake has logged the restore it answered last (the slot is settled
        // after the response body is done): wait for all six calls before checking them.
        await Poll.UntilAsync(() => upstream.Requests.Count >= 6, "the fake to record the restore");
        Assert.False(restoreAnsweredEarly, "the gateway waited for the restore's answer before forwarding the request");
        Assert.Equal(["chat A", $"{SavePath} llama-gateway-fake-0.bin", "chat B", $"{SavePath} llama-gateway-fake-1.bin", $"{RestorePath} llama-gateway-fake-0.bin", "chat A"], Calls(upstream));

        // The answer still reached the bookkeeping before the slot was released.
        Assert.Equal(["empty-slot", "evict-least-valuable+saved", "evict-least-valuable+saved+restored"], await ReasonsAsync(gateway, 3));
        Assert.Equal(1, (await SlotSaveStatusAsync(gateway)).GetProperty("restores").GetInt64());
        // The slot is known to hold A afterwards: its next turn neither saves nor restores.
        await SendOkAsync(gateway, "A", 3);
        Assert.Equal(["chat A", $"{SavePath} llama-gateway-fake-0.bin", "chat B", $"{SavePath} llama-gateway-fake-1.bin", $"{RestorePath} llama-gateway-fake-0.bin", "chat A", "chat A"], Calls(upstream));
    }

    [Fact]
    public async Task Messages_RestoreAnsweredAfterTheRequestEnded_SlotHeldUntilTheAnswer()
    {
        // What llama-server does if the request's task was ever queued before its restore: the restore waits until the
        // slot is free, so it is answered only after the request has ended. Until then the slot is not given to anyone.
        var returningAnswered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseRestore = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var restoreAnswered = false;
        bool? answeredBeforeNext = null;
        await using var upstream = await StartUpstreamAsync(async (http, fileName) =>
        {
            if (http.Request.Query["action"] == "restore")
            {
                await releaseRestore.Task.WaitAsync(TimeSpan.FromSeconds(20));
                Volatile.Write(ref restoreAnswered, true);
            }

            await AnswerSlotAsync(http, fileName);
        });
        var answerModel = upstream.Handler;
        upstream.Handler = async (http, request) =>
        {
            var returning = request.Path == ChatPath && request.BodyText.Contains("conversation A, question 2", StringComparison.Ordinal);
            if (request.Path == ChatPath && request.BodyText.Contains("conversation C", StringComparison.Ordinal))
            {
                answeredBeforeNext = Volatile.Read(ref restoreAnswered);
            }

            await answerModel(http, request);
            if (returning)
            {
                returningAnswered.TrySetResult();
            }
        };
        await using var gateway = await StartGatewayAsync(upstream);
        await SendOkAsync(gateway, "A", 1);
        await SendOkAsync(gateway, "B", 1);

        var returningTurn = SendOkAsync(gateway, "A", 2);
        await returningAnswered.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // Another user, on a connection of its own: A's stays busy until A's request has ended, restore answer included.
        using var other = new HttpClient { BaseAddress = new Uri(gateway.BaseUrl) };
        var next = Task.Run(async () =>
        {
            using var response = await other.SendAsync(Turn("C", 1));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        });

        // C queues for the only slot while A's restore is unanswered; it must still be waiting.
        var router = gateway.Service<LlamaGateway.Routing.SlotRouter>();
        await Poll.UntilAsync(() => router.QueueLength == 1, "C to queue for the slot");
        Assert.Null(answeredBeforeNext);
        releaseRestore.TrySetResult();
        await returningTurn;
        await next;

        Assert.True(answeredBeforeNext, "the slot was handed to C before A's restore was answered");

        // A's request is logged after its slot is released, so C (which evicts A: a save) can be logged first.
        var reasons = await ReasonsAsync(gateway, 4);
        Assert.Equal(["empty-slot", "evict-least-valuable+saved"], reasons.Take(2));
        Assert.Equal(["evict-least-valuable+saved", "evict-least-valuable+saved+restored"], reasons.Skip(2).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Messages_ForwardDuringRestoreOff_RequestWaitsForTheRestoreAnswer()
    {
        var restoreAnswered = false;
        bool? answeredBeforeReturn = null;
        await using var upstream = await StartUpstreamAsync(async (http, fileName) =>
        {
            if (http.Request.Query["action"] == "restore")
            {
                Volatile.Write(ref restoreAnswered, true);
            }

            await AnswerSlotAsync(http, fileName);
        });
        var answerModel = upstream.Handler;
        upstream.Handler = async (http, request) =>
        {
            if (request.Path == ChatPath && request.BodyText.Contains("question 2", StringComparison.Ordinal))
            {
                answeredBeforeReturn = Volatile.Read(ref restoreAnswered);
            }

            await answerModel(http, request);
        };
        await using var gateway = await StartGatewayAsync(upstream, new Dictionary<string, string?> { ["Gateway:Upstreams:0:SlotSave:ForwardDuringRestore"] = "false" });

        await SendOkAsync(gateway, "A", 1);
        await SendOkAsync(gateway, "B", 1);
        await SendOkAsync(gateway, "A", 2);

        Assert.True(answeredBeforeReturn, "with ForwardDuringRestore off the request must go only after the restore was answered");
        Assert.Equal(["empty-slot", "evict-least-valuable+saved", "evict-least-valuable+saved+restored"], await ReasonsAsync(gateway, 3));
    }

    [Fact]
    public async Task Messages_SameConversationNextTurn_NeitherSavesNorRestores()
    {
        await using var upstream = await StartUpstreamAsync();
        await using var gateway = await StartGatewayAsync(upstream);

        await SendOkAsync(gateway, "A", 1);
        await SendOkAsync(gateway, "A", 2);

        Assert.Equal(["chat A", "chat A"], Calls(upstream));
        Assert.Equal(["empty-slot", "own-slot"], await ReasonsAsync(gateway, 2));
    }

    [Fact]
    public async Task Messages_SlotSaveDisabled_NeverCallsSlotEndpoints()
    {
        await using var upstream = await StartUpstreamAsync();
        await using var gateway = await StartGatewayAsync(upstream, new Dictionary<string, string?> { ["Gateway:Upstreams:0:SlotSave:Enabled"] = "false" });

        await SendOkAsync(gateway, "A", 1);
        await SendOkAsync(gateway, "B", 1);
        await SendOkAsync(gateway, "A", 2);

        Assert.Equal(["chat A", "chat B", "chat A"], Calls(upstream));
        Assert.Equal(JsonValueKind.Null, (await SlotSaveStatusAsync(gateway)).ValueKind);
    }

    [Fact]
    public async Task Messages_SaveFailsWithServerError_RequestsSucceedAndFailureIsLogged()
    {
        await using var upstream = await StartUpstreamAsync((http, _) => AnswerErrorAsync(http, 500, "Unable to save slot"));
        await using var gateway = await StartGatewayAsync(upstream);

        await SendOkAsync(gateway, "A", 1);
        await SendOkAsync(gateway, "B", 1);
        await SendOkAsync(gateway, "A", 2);

        // Nothing was saved, so nothing is restored; both evictions still tried to save (into the same, still empty, file).
        Assert.Equal(["chat A", $"{SavePath} llama-gateway-fake-0.bin", "chat B", $"{SavePath} llama-gateway-fake-0.bin", "chat A"], Calls(upstream));
        Assert.Equal(["empty-slot", "evict-least-valuable+save-failed", "evict-least-valuable+save-failed"], await ReasonsAsync(gateway, 3));
        Assert.Contains(gateway.Logs.Lines, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("Could not save slot 0 of fake", StringComparison.Ordinal) && l.Contains("Unable to save slot", StringComparison.Ordinal));
        var status = await SlotSaveStatusAsync(gateway);
        Assert.Equal(2, status.GetProperty("saveFailures").GetInt64());
        Assert.Equal(0, status.GetProperty("saves").GetInt64());
    }

    [Fact]
    public async Task Messages_SaveNeverAnswers_RequestGoesOnAfterTimeout()
    {
        await using var upstream = await StartUpstreamAsync(async (http, _) => await Task.Delay(Timeout.Infinite, http.RequestAborted));
        await using var gateway = await StartGatewayAsync(upstream, new Dictionary<string, string?> { ["Gateway:Upstreams:0:SlotSave:TimeoutSeconds"] = "0.3" });

        await SendOkAsync(gateway, "A", 1);
        await SendOkAsync(gateway, "B", 1);

        Assert.Equal(["chat A", $"{SavePath} llama-gateway-fake-0.bin", "chat B"], Calls(upstream));
        Assert.Contains(gateway.Logs.Lines, l => l.Contains("Could not save slot", StringComparison.Ordinal) && l.Contains("TimedOut", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Messages_UpstreamWithoutSlotSavePath_TurnsFeatureOffWithOneWarning()
    {
        await using var upstream = await StartUpstreamAsync((http, _) => AnswerErrorAsync(http, 501, "This server does not support slots action. Start it with `--slot-save-path`"));
        await using var gateway = await StartGatewayAsync(upstream);

        await SendOkAsync(gateway, "A", 1);
        await SendOkAsync(gateway, "B", 1);
        await SendOkAsync(gateway, "A", 2);
        await SendOkAsync(gateway, "B", 2);

        Assert.Equal(["chat A", $"{SavePath} llama-gateway-fake-0.bin", "chat B", "chat A", "chat B"], Calls(upstream));
        Assert.Single(gateway.Logs.Lines, l => l.Contains("cannot save slots", StringComparison.Ordinal));
        Assert.DoesNotContain(gateway.Logs.Lines, l => l.Contains("Could not save", StringComparison.Ordinal));
        var status = await SlotSaveStatusAsync(gateway);
        Assert.False(status.GetProperty("supported").GetBoolean());
        Assert.Contains("--slot-save-path", status.GetProperty("unsupportedReason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Messages_RestoreRejected_RequestIsComputedFromScratchAndSucceeds()
    {
        await using var upstream = await StartUpstreamAsync((http, fileName) => http.Request.Query["action"] == "restore"
            ? AnswerErrorAsync(http, 400, "Unable to restore slot: No available space in KV cache or invalid slot save file")
            : AnswerSlotAsync(http, fileName));
        await using var gateway = await StartGatewayAsync(upstream);

        await SendOkAsync(gateway, "A", 1);
        await SendOkAsync(gateway, "B", 1);
        await SendOkAsync(gateway, "A", 2);
        await SendOkAsync(gateway, "B", 2);

        // The refused file 0 holds nothing usable afterwards, so A's next state is saved over it rather than into a new file.
        string[] expected =
        [
            "chat A", $"{SavePath} llama-gateway-fake-0.bin", "chat B",
            $"{SavePath} llama-gateway-fake-1.bin", $"{RestorePath} llama-gateway-fake-0.bin", "chat A",
            $"{SavePath} llama-gateway-fake-0.bin", $"{RestorePath} llama-gateway-fake-1.bin", "chat B",
        ];
        Assert.Equal(expected, Calls(upstream));
        Assert.Equal(["empty-slot", "evict-least-valuable+saved", "evict-least-valuable+saved+restore-failed", "evict-least-valuable+saved+restore-failed"],
            await ReasonsAsync(gateway, 4));
        var status = await SlotSaveStatusAsync(gateway);
        Assert.Equal(2, status.GetProperty("restoreFailures").GetInt64());
        Assert.Equal(0, status.GetProperty("restores").GetInt64());
        Assert.Contains(gateway.Logs.Lines, l => l.Contains("Could not restore llama-gateway-fake-0.bin into slot 0 of fake", StringComparison.Ordinal) && l.Contains("No available space", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Messages_ClientDisconnectsDuringSave_SaveIsCancelledAndRequestNotForwarded()
    {
        var saveStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var saveAborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await StartUpstreamAsync(async (http, fileName) =>
        {
            // Only the first save hangs (until the gateway drops it); later ones are answered.
            if (!saveStarted.TrySetResult())
            {
                await AnswerSlotAsync(http, fileName);
                return;
            }

            try
            {
                await Task.Delay(Timeout.Infinite, http.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                saveAborted.TrySetResult();
            }
        });
        await using var gateway = await StartGatewayAsync(upstream);
        await SendOkAsync(gateway, "A", 1);

        using var disconnect = new CancellationTokenSource();
        var evicting = gateway.Client.SendAsync(Turn("B", 1), disconnect.Token);
        await saveStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await disconnect.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => evicting);
        await saveAborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Poll.UntilAsync(() => gateway.Logs.Lines.Any(l => l.Contains("client disconnected", StringComparison.Ordinal)), "the gateway to log the disconnect");
        Assert.Equal(["chat A", $"{SavePath} llama-gateway-fake-0.bin"], Calls(upstream));

        // The slot is free again; the next request saves A (the abandoned save wrote nothing the gateway relies on).
        await SendOkAsync(gateway, "C", 1);
        Assert.Equal(["chat A", $"{SavePath} llama-gateway-fake-0.bin", $"{SavePath} llama-gateway-fake-0.bin", "chat C"], Calls(upstream));
    }

    [Fact]
    public async Task Start_InvalidSlotSaveOptions_FailsNamingTheKeys()
    {
        await using var upstream = await StartUpstreamAsync();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => StartGatewayAsync(upstream, new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:Dialect"] = "anthropic",
            ["Gateway:Upstreams:0:SlotSave:MaxDiskMiB"] = "0",
            ["Gateway:Upstreams:0:SlotSave:MinTokens"] = "0",
            ["Gateway:Upstreams:0:SlotSave:TimeoutSeconds"] = "0",
        }));

        Assert.Contains(error.Failures, f => f.Contains("Gateway:Upstreams:0:SlotSave:MaxDiskMiB", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Gateway:Upstreams:0:SlotSave:MinTokens", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Gateway:Upstreams:0:SlotSave:TimeoutSeconds", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Gateway:Upstreams:0:SlotSave:Enabled needs Gateway:Upstreams:0:Dialect \"openai\"", StringComparison.Ordinal));
    }
}
