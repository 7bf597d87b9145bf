using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.Routing;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.PrefillChunking;

/// <summary>
/// The gateway on real Kestrel in front of a fake llama-server that keeps, per slot, the prompt it last processed and
/// answers as llama-server does: <c>/apply-template</c> renders a chat body to a prompt, <c>/tokenize</c> turns it into
/// token ids, <c>/completion</c> with <c>n_predict: 0</c> processes a prompt of token ids into a slot and reports what
/// it found cached (the longest common prefix) and computed, and a chat completion streams an answer whose usage says
/// the same. A token is four characters here (ids from a vocabulary the fake grows as it tokenizes).
/// </summary>
public sealed class PrefillChunkingFunctionalTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private static readonly Dictionary<string, string?> ChunkingOn = new()
    {
        ["Gateway:Upstreams:0:Slots"] = "4",
        ["Gateway:Routing:MaxSlotsPerUser"] = "4",
        ["Gateway:Routing:PrefillChunkSeconds"] = "0.5",
    };

    // 40,000 characters of system prompt: ~10,800 tokens at the gateway's default estimate, ~11 s at 1,000 tokens/s.
    private static string Long(string project) =>
        $$$"""{"model":"claude-x","max_tokens":1000,"stream":true,"system":"You work in {{{project}}}. {{{Words(40_000)}}}","tools":[{"name":"Read","description":"reads","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"}]}""";

    private static string Short(string project) =>
        $$$"""{"model":"claude-x","max_tokens":1000,"stream":true,"system":"You work in {{{project}}}.","tools":[{"name":"Read","description":"reads","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"}]}""";

    private static string Words(int length)
    {
        var text = new StringBuilder(length + 16);
        for (var i = 0; text.Length < length; i++)
        {
            text.Append("word").Append(i % 97).Append(' ');
        }

        return text.ToString(0, length);
    }

    private static HttpRequestMessage Post(string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    [Fact]
    public async Task Messages_LongPrompt_PrefilledInGrowingChunksOnItsSlotThenSentThere()
    {
        await using var fake = await ChunkingFake.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(fake.Upstream.BaseUrl, ChunkingOn);

        using var response = await gateway.Client.SendAsync(Post(Long("project-a"))).WaitAsync(Bound);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("message_stop", body, StringComparison.Ordinal);
        var calls = fake.Calls.ToList();
        Assert.Equal("apply-template", calls[0].Kind);
        var chunks = calls.Where(c => c.Kind == "completion").ToList();
        var chat = Assert.Single(calls, c => c.Kind == "chat");
        Assert.True(chunks.Count >= 10, $"{chunks.Count} chunks");
        Assert.Equal(calls.Count - 1, calls.IndexOf(chat));

        // Every chunk a longer prefix of the rendered prompt, on the slot the request itself then went to, each
        // finding the one before it cached; the request found all of them.
        var rendered = fake.Render(chat.Body);
        for (var i = 0; i < chunks.Count; i++)
        {
            Assert.Equal(chat.Slot, chunks[i].Slot);
            Assert.StartsWith(chunks[i].Prompt, rendered, StringComparison.Ordinal);
            if (i > 0)
            {
                Assert.True(chunks[i].Prompt.Length > chunks[i - 1].Prompt.Length);
                Assert.True(chunks[i].CachedChars >= chunks[i - 1].Prompt.Length - 8, $"chunk {i} found {chunks[i].CachedChars} of {chunks[i - 1].Prompt.Length}");
            }
        }

        Assert.True(chat.CachedChars >= chunks[^1].Prompt.Length - 8);

        // The client is told the truth: every token was computed for this request, none was a cache read.
        var usage = FinalUsage(body);
        Assert.Equal(rendered.Length / 4, usage.Input + usage.CacheRead);
        Assert.True(usage.CacheRead <= chunks.Count + 2, $"cache read {usage.CacheRead}");
        var line = await RequestLineAsync(gateway);
        Assert.Matches(@"prefilled \d+ tokens in \d+ chunks, gave way 0 ms to shorter prompts", line);
        Assert.Contains($"in {chunks.Count} chunks", line, StringComparison.Ordinal);

        var metrics = await gateway.Client.GetStringAsync("/metrics");
        Assert.Contains("gateway_chunked_prefills_total{instance=\"fake\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains($"gateway_prefill_chunks_total{{instance=\"fake\"}} {chunks.Count}", metrics, StringComparison.Ordinal);
        using var status = JsonDocument.Parse(await gateway.Client.GetStringAsync("/status.json"));
        var instance = status.RootElement.GetProperty("instances")[0];
        Assert.Equal(1, instance.GetProperty("chunkedPrefills").GetInt64());
        Assert.Equal(chunks.Count, instance.GetProperty("prefillChunks").GetInt64());
    }

    [Fact]
    public async Task Messages_PerUserLongPromptOnASlotNotKnownToBeItsOwn_FirstChunkReusesNothingTheRestReuseTheChunks()
    {
        await using var fake = await ChunkingFake.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(fake.Upstream.BaseUrl, new Dictionary<string, string?>(ChunkingOn) { ["Gateway:Isolation"] = "PerUser" });

        using var response = await gateway.Client.SendAsync(Post(Long("project-a"))).WaitAsync(Bound);
        await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var chunks = fake.Calls.Where(c => c.Kind == "completion").ToList();
        var chat = Assert.Single(fake.Calls, c => c.Kind == "chat");
        Assert.True(chunks.Count >= 2, $"{chunks.Count} chunks");
        Assert.False(chunks[0].CachePrompt);
        Assert.All(chunks.Skip(1), c => Assert.True(c.CachePrompt));

        // The request, built again once its first chunk was in the slot, reuses the chunks (so chunking stays on).
        Assert.True(chat.CachePrompt);
        Assert.True(chat.CachedChars >= chunks[^1].Prompt.Length - 8, $"found {chat.CachedChars} of {chunks[^1].Prompt.Length}");
        Assert.DoesNotContain(gateway.Logs.Lines, l => l.Contains("Prefill chunking is off", StringComparison.Ordinal));
        Assert.Contains("+isolated", await RequestLineAsync(gateway), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Messages_ShortPromptArrivesBetweenChunks_NextChunkWaitsForItsFirstEvent()
    {
        var shortArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseShort = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var fake = await ChunkingFake.StartAsync();
        fake.BeforeChunk = async index =>
        {
            // The second chunk is answered only once the short request is at the server: it is then in flight,
            // its prompt not yet processed, when the long one would send its third chunk.
            if (index == 1)
            {
                await shortArrived.Task.WaitAsync(Bound);
            }
        };
        fake.BeforeFirstEvent = async body =>
        {
            if (body.Contains("project-short", StringComparison.Ordinal))
            {
                fake.Events.Enqueue("short-arrived");
                shortArrived.TrySetResult();
                await releaseShort.Task.WaitAsync(Bound);
                fake.Events.Enqueue("short-first-event");
            }
        };
        await using var gateway = await GatewayHost.StartAsync(fake.Upstream.BaseUrl, ChunkingOn);
        var router = gateway.Service<SlotRouter>();

        var longRequest = gateway.Client.SendAsync(Post(Long("project-long")));
        await Eventually.TrueAsync(() => fake.Calls.Count(c => c.Kind == "completion") >= 1, Bound);
        var shortRequest = gateway.Client.SendAsync(Post(Short("project-short")));
        await shortArrived.Task.WaitAsync(Bound);

        // The long request has its second chunk's answer and now gives way to the short prompt.
        await Eventually.TrueAsync(() => router.YieldingPrefills == 1, Bound);
        Assert.Equal(2, fake.Calls.Count(c => c.Kind == "completion"));
        releaseShort.TrySetResult();

        using var shortResponse = await shortRequest.WaitAsync(Bound);
        using var longResponse = await longRequest.WaitAsync(Bound);
        Assert.Equal(HttpStatusCode.OK, shortResponse.StatusCode);
        Assert.Equal(HttpStatusCode.OK, longResponse.StatusCode);
        Assert.Contains("message_stop", await longResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var events = fake.Events.ToList();
        Assert.True(events.IndexOf("chunk-2") > events.IndexOf("short-first-event"), string.Join(", ", events));
        await Eventually.TrueAsync(() => gateway.Logs.Lines.Any(l => l.Contains(" gave way ", StringComparison.Ordinal) && !l.Contains("gave way 0 ms", StringComparison.Ordinal)), Bound);
    }

    [Fact]
    public async Task Messages_ServerWithoutApplyTemplate_ForwardedWholeAndChunkingOffWithOneWarning()
    {
        await using var fake = await ChunkingFake.StartAsync();
        fake.Unsupported = true;
        await using var gateway = await GatewayHost.StartAsync(fake.Upstream.BaseUrl, ChunkingOn);

        using var first = await gateway.Client.SendAsync(Post(Long("project-a"))).WaitAsync(Bound);
        using var second = await gateway.Client.SendAsync(Post(Long("project-b"))).WaitAsync(Bound);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(1, fake.Calls.Count(c => c.Kind == "apply-template"));
        Assert.Equal(2, fake.Calls.Count(c => c.Kind == "chat"));
        Assert.DoesNotContain(fake.Calls, c => c.Kind == "completion");
        Assert.Single(gateway.Logs.Lines, l => l.Contains("Prefill chunking is off for upstream fake", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Messages_ChunkFindsTheOneBeforeItGone_StopsForwardsAndTurnsChunkingOff()
    {
        // A server whose slots forget each chunk (as if something else rendered or tokenized differently).
        await using var fake = await ChunkingFake.StartAsync();
        fake.ForgetChunks = true;
        await using var gateway = await GatewayHost.StartAsync(fake.Upstream.BaseUrl, ChunkingOn);

        using var first = await gateway.Client.SendAsync(Post(Long("project-a"))).WaitAsync(Bound);
        using var second = await gateway.Client.SendAsync(Post(Long("project-b"))).WaitAsync(Bound);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(2, fake.Calls.Count(c => c.Kind == "completion"));
        Assert.Equal(1, fake.Calls.Count(c => c.Kind == "apply-template"));
        Assert.Single(gateway.Logs.Lines, l => l.Contains("Prefill chunking is off for upstream fake", StringComparison.Ordinal) && l.Contains("where the chunk before it had left", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Messages_RequestDoesNotFindItsChunks_ChunkingTurnedOff()
    {
        await using var fake = await ChunkingFake.StartAsync();
        fake.ChatIgnoresCache = true;
        await using var gateway = await GatewayHost.StartAsync(fake.Upstream.BaseUrl, ChunkingOn);

        using var first = await gateway.Client.SendAsync(Post(Long("project-a"))).WaitAsync(Bound);
        await RequestLineAsync(gateway);
        using var second = await gateway.Client.SendAsync(Post(Long("project-b"))).WaitAsync(Bound);

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(1, fake.Calls.Count(c => c.Kind == "apply-template"));
        Assert.Single(gateway.Logs.Lines, l => l.Contains("Prefill chunking is off for upstream fake", StringComparison.Ordinal) && l.Contains("computed twice", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Messages_ShortPrompt_SentWithoutChunks()
    {
        await using var fake = await ChunkingFake.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(fake.Upstream.BaseUrl, ChunkingOn);

        using var response = await gateway.Client.SendAsync(Post(Short("project-a"))).WaitAsync(Bound);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["chat"], fake.Calls.Select(c => c.Kind));
        Assert.Contains("(no wait)", await RequestLineAsync(gateway), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Messages_ChunkingOff_LongPromptSentWhole()
    {
        await using var fake = await ChunkingFake.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(fake.Upstream.BaseUrl, new Dictionary<string, string?>(ChunkingOn) { ["Gateway:Routing:PrefillChunkSeconds"] = "0" });

        using var response = await gateway.Client.SendAsync(Post(Long("project-a"))).WaitAsync(Bound);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["chat"], fake.Calls.Select(c => c.Kind));
    }

    [Fact]
    public async Task Messages_ClientLeavesDuringTheChunks_NothingMoreSent()
    {
        var clientGone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var fake = await ChunkingFake.StartAsync();
        fake.BeforeChunk = async index =>
        {
            if (index == 1)
            {
                await clientGone.Task.WaitAsync(Bound);
            }
        };
        await using var gateway = await GatewayHost.StartAsync(fake.Upstream.BaseUrl, ChunkingOn);
        using var leaving = new CancellationTokenSource();

        var request = gateway.Client.SendAsync(Post(Long("project-a")), leaving.Token);
        await Eventually.TrueAsync(() => fake.Calls.Count(c => c.Kind == "completion") == 1 && fake.Events.Contains("chunk-1-arrived"), Bound);
        await leaving.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        await Eventually.TrueAsync(() => gateway.Logs.Lines.Any(l => l.Contains("client disconnected", StringComparison.Ordinal)), Bound);
        clientGone.TrySetResult();

        Assert.DoesNotContain(fake.Calls, c => c.Kind == "chat");
        Assert.True(fake.Calls.Count(c => c.Kind == "completion") <= 2);
    }

    private static async Task<string> RequestLineAsync(GatewayHost gateway)
    {
        string? line = null;
        await Eventually.TrueAsync(() => (line = gateway.Logs.Lines.LastOrDefault(l => l.Contains("POST /v1/messages ->", StringComparison.Ordinal))) is not null, Bound);
        return line!;
    }

    private static (long Input, long CacheRead) FinalUsage(string stream)
    {
        var delta = stream.Split('\n').Last(l => l.StartsWith("data: ", StringComparison.Ordinal) && l.Contains("message_delta", StringComparison.Ordinal));
        var usage = JsonNode.Parse(delta["data: ".Length..])!["usage"]!;
        return (usage["input_tokens"]!.GetValue<long>(), usage["cache_read_input_tokens"]!.GetValue<long>());
    }

    /// <summary>
    /// One call the fake received: what kind, on which slot, the prompt (chunks) and what it found cached, in characters
    /// (nothing when it came with <c>cache_prompt: false</c>, as llama-server then computes the whole prompt).
    /// </summary>
    private sealed record FakeCall(string Kind, int Slot, string Prompt, int CachedChars, string Body, bool CachePrompt = true);

    /// <summary>The fake llama-server described on the class.</summary>
    private sealed class ChunkingFake
    {
        private readonly ConcurrentDictionary<int, string> _slots = new();
        private readonly ConcurrentDictionary<string, int> _vocabulary = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<int, string> _pieces = new();
        private int _chunks;

        private ChunkingFake(FakeUpstream upstream) => Upstream = upstream;

        public FakeUpstream Upstream { get; }

        public ConcurrentQueue<FakeCall> Calls { get; } = new();

        public ConcurrentQueue<string> Events { get; } = new();

        /// <summary>Runs before the n-th chunk (0-based) is processed.</summary>
        public Func<int, Task> BeforeChunk { get; set; } = _ => Task.CompletedTask;

        /// <summary>Runs before a chat completion's first event, given the request body.</summary>
        public Func<string, Task> BeforeFirstEvent { get; set; } = _ => Task.CompletedTask;

        /// <summary>404 for /apply-template, /tokenize and /completion, as a server without them.</summary>
        public bool Unsupported { get; set; }

        /// <summary>Each chunk finds the slot empty.</summary>
        public bool ForgetChunks { get; set; }

        /// <summary>A chat completion finds the slot empty.</summary>
        public bool ChatIgnoresCache { get; set; }

        public static async Task<ChunkingFake> StartAsync()
        {
            ChunkingFake? fake = null;
            var upstream = await FakeUpstream.StartAsync((http, request) => fake!.HandleAsync(http, request));
            fake = new ChunkingFake(upstream);
            return fake;
        }

        public ValueTask DisposeAsync() => Upstream.DisposeAsync();

        /// <summary>The prompt the fake's "chat template" makes of a chat-completions body: every message's content, marked.</summary>
        public string Render(string chatBody)
        {
            var prompt = new StringBuilder();
            foreach (var message in JsonNode.Parse(chatBody)!["messages"]!.AsArray())
            {
                prompt.Append("<|").Append(message!["role"]!.GetValue<string>()).Append("|>").Append(message["content"]!.ToJsonString()).Append('\n');
            }

            return prompt.Append("<|assistant|>").ToString();
        }

        private async Task HandleAsync(HttpContext http, RecordedRequest request)
        {
            switch (request.Path)
            {
                case "/apply-template":
                    Calls.Enqueue(new FakeCall("apply-template", -1, string.Empty, 0, request.BodyText));
                    if (Unsupported)
                    {
                        http.Response.StatusCode = StatusCodes.Status404NotFound;
                        return;
                    }

                    await http.Response.WriteAsJsonAsync(new { prompt = Render(request.BodyText) });
                    return;
                case "/tokenize":
                    Calls.Enqueue(new FakeCall("tokenize", -1, string.Empty, 0, request.BodyText));
                    if (Unsupported)
                    {
                        http.Response.StatusCode = StatusCodes.Status404NotFound;
                        return;
                    }

                    var tokenize = JsonNode.Parse(request.BodyText)!;
                    Assert.True(tokenize["add_special"]!.GetValue<bool>());
                    Assert.True(tokenize["parse_special"]!.GetValue<bool>());
                    await http.Response.WriteAsJsonAsync(new { tokens = Tokenize(tokenize["content"]!.GetValue<string>()) });
                    return;
                case "/completion":
                    if (Unsupported)
                    {
                        http.Response.StatusCode = StatusCodes.Status404NotFound;
                        return;
                    }

                    await CompleteChunkAsync(http, request);
                    return;
                default:
                    await ChatAsync(http, request);
                    return;
            }
        }

        private async Task CompleteChunkAsync(HttpContext http, RecordedRequest request)
        {
            var body = JsonNode.Parse(request.BodyText)!;
            Assert.Equal(0, body["n_predict"]!.GetValue<int>());
            var cachePrompt = body["cache_prompt"]!.GetValue<bool>();
            var slot = body["id_slot"]!.GetValue<int>();
            var prompt = string.Concat(body["prompt"]!.AsArray().Select(id => _pieces[id!.GetValue<int>()]));
            var index = Interlocked.Increment(ref _chunks) - 1;
            Events.Enqueue($"chunk-{index}-arrived");
            await BeforeChunk(index);
            var cached = ForgetChunks || !cachePrompt ? 0 : Common(_slots.GetValueOrDefault(slot, string.Empty), prompt);
            _slots[slot] = prompt;
            Calls.Enqueue(new FakeCall("completion", slot, prompt, cached, request.BodyText, cachePrompt));
            Events.Enqueue($"chunk-{index}");
            var computed = (prompt.Length - cached) / 4;
            await http.Response.WriteAsync(string.Create(CultureInfo.InvariantCulture,
                $$$"""{"content":"","stop":true,"timings":{"cache_n":{{{cached / 4}}},"prompt_n":{{{computed}}},"prompt_ms":{{{computed * 0.5}}}}}"""));
        }

        private async Task ChatAsync(HttpContext http, RecordedRequest request)
        {
            var chat = JsonNode.Parse(request.BodyText)!;
            var slot = chat["id_slot"]?.GetValue<int>() ?? 0;
            var cachePrompt = chat["cache_prompt"]?.GetValue<bool>() ?? true;
            var prompt = Render(request.BodyText);
            var cached = ChatIgnoresCache || !cachePrompt ? 0 : Common(_slots.GetValueOrDefault(slot, string.Empty), prompt);
            _slots[slot] = prompt;
            Calls.Enqueue(new FakeCall("chat", slot, prompt, cached, request.BodyText, cachePrompt));
            await FakeUpstream.StartStreamAsync(http);
            await BeforeFirstEvent(request.BodyText);
            var total = prompt.Length / 4;
            var reused = Math.Min(cached / 4, total);
            await FakeUpstream.WriteEventAsync(http, null, """{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}""");
            await FakeUpstream.WriteEventAsync(http, null, string.Create(CultureInfo.InvariantCulture,
                $$$"""{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":{{{total}}},"completion_tokens":1,"total_tokens":{{{total + 1}}},"prompt_tokens_details":{"cached_tokens":{{{reused}}}}},"timings":{"cache_n":{{{reused}}},"prompt_n":{{{total - reused}}},"prompt_ms":{{{(total - reused) * 0.5}}}}}"""));
            await FakeUpstream.WriteEventAsync(http, null, "[DONE]");
        }

        private static int Common(string a, string b) => a.AsSpan().CommonPrefixLength(b);

        private int[] Tokenize(string text)
        {
            var ids = new int[(text.Length + 3) / 4];
            for (var i = 0; i < ids.Length; i++)
            {
                var piece = text.Substring(i * 4, Math.Min(4, text.Length - (i * 4)));
                ids[i] = _vocabulary.GetOrAdd(piece, p =>
                {
                    lock (_pieces)
                    {
                        var id = _pieces.Count;
                        _pieces[id] = p;
                        return id;
                    }
                });
            }

            return ids;
        }
    }
}
