using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Functional;

public sealed class ForwardingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private static HttpRequestMessage MessagesRequest(string body, string path = "/v1/messages?beta=true")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        request.Headers.Add("anthropic-beta", "claude-code-20250219,some-future-beta-2099-01-01");
        return request;
    }

    private const string StreamingMessages = """{"model":"claude-x","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}""";

    [Fact]
    public async Task Messages_AnthropicUpstreamStream_EventsArriveOneByOne()
    {
        var clientSawFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            await FakeUpstream.StartStreamAsync(http);
            await FakeUpstream.WriteEventAsync(http, "message_start", """{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":7,"cache_read_input_tokens":3,"output_tokens":0}}}""");

            // The rest is only written once the client has seen the first event: a buffering gateway fails here.
            await clientSawFirst.Task.WaitAsync(Bound, http.RequestAborted);
            await FakeUpstream.WriteEventAsync(http, "content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""");
            await FakeUpstream.WriteEventAsync(http, "content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}""");
            await FakeUpstream.WriteEventAsync(http, "content_block_stop", """{"type":"content_block_stop","index":0}""");
            await FakeUpstream.WriteEventAsync(http, "message_delta", """{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}""");
            await FakeUpstream.WriteEventAsync(http, "message_stop", """{"type":"message_stop"}""");
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, dialect: "anthropic");

        using var response = await gateway.Client.SendAsync(MessagesRequest(StreamingMessages), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var events = new SseClient(await response.Content.ReadAsStreamAsync());
        var first = await events.NextEventAsync().WaitAsync(Bound);
        Assert.StartsWith("event: message_start", first);
        clientSawFirst.SetResult();
        var rest = await events.ReadAllAsync().WaitAsync(Bound);
        Assert.Equal(["content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"],
            rest.Select(e => e.Split('\n')[0]["event: ".Length..]).ToArray());

        var sent = Assert.Single(upstream.Requests);
        Assert.Equal("/v1/messages", sent.Path);
        Assert.Equal("claude-code-20250219,some-future-beta-2099-01-01", sent.Headers["anthropic-beta"]);
    }

    [Fact]
    public async Task ChatCompletions_ClientDisconnects_UpstreamRequestIsCancelled()
    {
        var upstreamCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            await FakeUpstream.StartStreamAsync(http);
            await FakeUpstream.WriteEventAsync(http, null, """{"choices":[{"index":0,"delta":{"content":"a"}}]}""");
            try
            {
                await Task.Delay(Timeout.Infinite, http.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                upstreamCancelled.SetResult();
            }
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl);

        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var events = new SseClient(await response.Content.ReadAsStreamAsync());
        Assert.NotNull(await events.NextEventAsync().WaitAsync(Bound));
        events.Dispose();
        response.Dispose();

        await upstreamCancelled.Task.WaitAsync(Bound);
    }

    [Fact]
    public async Task Messages_MalformedJson_Returns400InAnthropicFormat()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl);

        using var response = await gateway.Client.SendAsync(MessagesRequest("""{"model":"x","messages":[{"role":"user","content":"hi"}"""));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("error", error.RootElement.GetProperty("type").GetString());
        Assert.Equal("invalid_request_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.RootElement.GetProperty("error").GetProperty("message").GetString()));
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task ChatCompletions_WrongShape_Returns400InOpenAiFormat()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl);

        using var response = await gateway.Client.PostAsync("/v1/chat/completions", new StringContent("""{"model":"x","messages":"not a list"}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var inner = error.RootElement.GetProperty("error");
        Assert.Contains("messages", inner.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", inner.GetProperty("type").GetString());
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Messages_BodyOverLimit_Returns413(bool declareLength)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?> { ["Gateway:MaxRequestBodyBytes"] = "4096" });
        var big = $$"""{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"{{new string('a', 10_000)}}"}]}""";
        HttpContent content = declareLength
            ? new StringContent(big, Encoding.UTF8, "application/json")
            : new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        if (!declareLength)
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            content.Headers.ContentLength = null;
        }

        var request = MessagesRequest("{}");
        request.Content = content;
        using var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("request_too_large", error.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("4,096", error.RootElement.GetProperty("error").GetProperty("message").GetString());
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task Messages_UpstreamDown_ReturnsUnavailableQuicklyWithReason()
    {
        await using var gateway = await GatewayHost.StartAsync(Ports.DeadUrl());

        var started = System.Diagnostics.Stopwatch.StartNew();
        using var response = await gateway.Client.SendAsync(MessagesRequest(StreamingMessages));

        Assert.True(response.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway, $"status {response.StatusCode}");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"took {started.Elapsed}");
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var message = error.RootElement.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains("fake", message);
        Assert.Contains("refused", message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Messages_UpstreamNeverAnswers_Returns504NamingTheTimeout()
    {
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) => await Task.Delay(Timeout.Infinite, http.RequestAborted));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?> { ["Gateway:Timeouts:FirstByteSeconds"] = "1" });

        using var response = await gateway.Client.SendAsync(MessagesRequest(StreamingMessages));

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Contains("FirstByteSeconds", error.RootElement.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task ChatCompletions_UpstreamDiesMidStream_ClientGetsErrorEvent()
    {
        var clientSawFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            await FakeUpstream.StartStreamAsync(http);
            await FakeUpstream.WriteEventAsync(http, null, """{"choices":[{"index":0,"delta":{"content":"a"}}]}""");
            await clientSawFirst.Task.WaitAsync(Bound);
            http.Abort();
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl);

        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"),
        };
        using var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var events = new SseClient(await response.Content.ReadAsStreamAsync());
        var first = await events.NextEventAsync().WaitAsync(Bound);
        clientSawFirst.SetResult();
        var all = await events.ReadAllAsync().WaitAsync(Bound);
        all.Insert(0, first!);

        Assert.Equal(2, all.Count);
        Assert.StartsWith("data: {\"choices\"", all[0]);
        using var error = JsonDocument.Parse(all[1]["data: ".Length..]);
        Assert.Contains("fake", error.RootElement.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Messages_CallerKey_IsReplacedByUpstreamKey()
    {
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync("""{"id":"m","type":"message","role":"assistant","model":"x","content":[],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}""");
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl,
            new Dictionary<string, string?> { ["Gateway:Upstreams:0:ApiKey"] = "upstream-secret-key" }, dialect: "anthropic");

        var request = MessagesRequest("""{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}""");
        request.Headers.Add("x-api-key", "sk-caller-secret");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-caller-bearer");
        using var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Assert.Single(upstream.Requests);
        Assert.DoesNotContain(sent.Headers, h => h.Value.Contains("sk-caller", StringComparison.Ordinal));
        Assert.Equal("Bearer upstream-secret-key", sent.Headers["Authorization"]);
        Assert.DoesNotContain("sk-caller", gateway.Logs.All);
        Assert.DoesNotContain("upstream-secret-key", gateway.Logs.All);
    }

    [Fact]
    public async Task Messages_ConsecutiveModelRequests_ReuseOneKeptAliveConnection()
    {
        // A fresh connection per request would cost every request a connect; only the retry after an upstream
        // dropped a connection asks for one (FailoverTests).
        var connections = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            connections.Enqueue(http.Connection.Id);
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync("""{"id":"m","type":"message","role":"assistant","model":"x","content":[],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}""");
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, dialect: "anthropic");

        // The pool is per (instance, slot count): a request sent before the start-up probe read /props would use the
        // one-slot pool, the next ones the discovered count's, on a connection of their own.
        await gateway.WaitForStartupProbeAsync();
        for (var i = 0; i < 3; i++)
        {
            using var message = await gateway.Client.SendAsync(MessagesRequest("""{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"""));
            Assert.Equal(HttpStatusCode.OK, message.StatusCode);
        }

        Assert.Equal(3, connections.Count);
        Assert.Single(connections.Distinct());
        Assert.All(upstream.Requests, r => Assert.False(r.Headers.TryGetValue("Connection", out var value) && value.Contains("close", StringComparison.OrdinalIgnoreCase)));
    }

    [Theory]
    [InlineData("HEAD", "/")]
    [InlineData("HEAD", "/api/hello")]
    [InlineData("GET", "/api/hello")]
    [InlineData("GET", "/healthz")]
    public async Task Probe_AnsweredLocally_Returns200(string method, string path)
    {
        await using var gateway = await GatewayHost.StartAsync(Ports.DeadUrl());

        using var response = await gateway.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
