using System.Net;
using System.Text;
using System.Text.Json;
using LlamaGateway.Tests.Auth;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// Whose fault a failure is: llama-server's answers to bad requests (HTTP 500 <c>server_error</c> for many of them)
/// reach the caller as a 400 <c>invalid_request_error</c> in its own dialect with <c>x-should-retry: false</c> and never
/// count against the instance; real server trouble still does.
/// </summary>
public sealed class RequestFaultTests
{
    private static Dictionary<string, string?> Settings(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Health:FailureThreshold"] = "2",

            // Slow probes: only what requests meet can change the instance's health during a test.
            ["Gateway:Health:IntervalSeconds"] = "600",
            ["Gateway:Health:UnhealthyIntervalSeconds"] = "600",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    private static UpstreamInstance Instance(GatewayHost gateway) => gateway.Service<UpstreamRegistry>().Instances[0];

    private static Task WriteErrorAsync(HttpContext http, int status, string body)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json; charset=utf-8";
        return http.Response.WriteAsync(body);
    }

    private static string LlamaError(int status, string message, string type = "server_error") =>
        JsonSerializer.Serialize(new { error = new { code = status, message, type } });

    /// <summary>Each recorded llama-server 500 about a request, on each response path, streamed or not.</summary>
    public static TheoryData<StreamPath, bool, string> RequestLevel500s()
    {
        var data = new TheoryData<StreamPath, bool, string>();
        string[] messages =
        [
            "[json.exception.out_of_range.406] number overflow parsing '1e999'",
            "Failed to parse tools: Expected 'tools' to be an array, got \"x\"; tools = \"x\"",
            "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj",
            "Failed to parse messages: Missing 'role' in message: {\"content\":\"hi\"}",
        ];
        foreach (var path in Enum.GetValues<StreamPath>())
        {
            foreach (var stream in new[] { false, true })
            {
                foreach (var message in messages)
                {
                    data.Add(path, stream, message);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RequestLevel500s))]
    public async Task Request_UpstreamAnswers500AboutTheRequest_400InTheCallersDialectAndTheInstanceStaysHealthy(StreamPath path, bool stream, string message)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => WriteErrorAsync(http, 500, LlamaError(500, message)));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(), Traffic.UpstreamDialect(path));
        await gateway.WaitForStartupProbeAsync();

        // Far more than the failure threshold, as an SDK's retries would send.
        for (var i = 0; i < 6; i++)
        {
            using var response = await gateway.Client.SendAsync(Traffic.Request(path, stream));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("false", Assert.Single(response.Headers.GetValues("x-should-retry")));
            var (type, text) = await Traffic.ErrorBodyAsync(response, Traffic.ClientIsAnthropic(path));
            Assert.Equal("invalid_request_error", type);
            Assert.Contains(message, text);
        }

        Assert.True(Instance(gateway).IsHealthy);
        Assert.Equal(0, Instance(gateway).ConsecutiveFailures);
        Assert.Null(Instance(gateway).LastError);
        Assert.Equal(6, upstream.Requests.Count);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    public async Task Request_ContextOverflow_AnthropicCallersGetAnthropicsWordingOpenAiCallersLlamaServersBody(StreamPath path)
    {
        const string overflow = """{"error":{"code":400,"message":"request (3030 tokens) exceeds the available context size (1024 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":3030,"n_ctx":1024}}""";
        await using var upstream = await FakeUpstream.StartAsync((http, _) => WriteErrorAsync(http, 400, overflow));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(), Traffic.UpstreamDialect(path));
        await gateway.WaitForStartupProbeAsync();

        using var response = await gateway.Client.SendAsync(Traffic.Request(path, stream: true));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("false", Assert.Single(response.Headers.GetValues("x-should-retry")));
        var (type, message) = await Traffic.ErrorBodyAsync(response, Traffic.ClientIsAnthropic(path));
        if (Traffic.ClientIsAnthropic(path))
        {
            // What Claude Code looks for before it compacts the conversation.
            Assert.Equal(("invalid_request_error", "prompt is too long: 3030 tokens > 1024 maximum"), (type, message));
        }
        else
        {
            Assert.Equal(overflow, await response.Content.ReadAsStringAsync());
        }

        Assert.True(Instance(gateway).IsHealthy);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic, "Compute error.")]
    [InlineData(StreamPath.OpenAiPassThrough, "Compute error.")]
    [InlineData(StreamPath.AnthropicPassThrough, "slot crashed")]
    [InlineData(StreamPath.OpenAiPassThrough, "got exception: failed to process speculative batch")]
    public async Task Request_UpstreamAnswers500ThatIsServerTrouble_CountsAndTakesTheInstanceOut(StreamPath path, string message)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => WriteErrorAsync(http, 500, LlamaError(500, message)));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(), Traffic.UpstreamDialect(path));
        await gateway.WaitForStartupProbeAsync();

        for (var i = 0; i < 2; i++)
        {
            using var failed = await gateway.Client.SendAsync(Traffic.Request(path, stream: false));
            Assert.True((int)failed.StatusCode >= 500, $"HTTP {(int)failed.StatusCode}");
            var (_, text) = await Traffic.ErrorBodyAsync(failed, Traffic.ClientIsAnthropic(path));
            Assert.Contains(message, text);
        }

        Assert.False(Instance(gateway).IsHealthy);
        Assert.Contains(message, Instance(gateway).LastError);
        using var refused = await gateway.Client.SendAsync(Traffic.Request(path, stream: false));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(2, upstream.Requests.Count);
    }

    [Fact]
    public async Task Request_UpstreamAnswers503Loading_CountsAgainstTheInstance()
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => WriteErrorAsync(http, 503, LlamaError(503, "Loading model", "unavailable_error")));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(), "openai");
        await gateway.WaitForStartupProbeAsync();

        for (var i = 0; i < 2; i++)
        {
            using var failed = await gateway.Client.SendAsync(Traffic.Request(StreamPath.TranslatedAnthropic, stream: false));
            Assert.True((int)failed.StatusCode >= 500);
        }

        Assert.False(Instance(gateway).IsHealthy);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic, "context shift is disabled", false)]
    [InlineData(StreamPath.OpenAiPassThrough, "context shift is disabled", false)]
    [InlineData(StreamPath.TranslatedAnthropic, "Failed to decode the batch (KV cache full?)", true)]
    [InlineData(StreamPath.OpenAiPassThrough, "Compute error.", true)]
    public async Task Stream_UpstreamEndsWithItsOwnErrorEvent_CountsOnlyWhenItIsServerTrouble(StreamPath path, string message, bool counts)
    {
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            await Traffic.WriteFirstEventAsync(http, path);
            await FakeUpstream.WriteEventAsync(http, null, LlamaError(500, message));
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(("Gateway:Health:FailureThreshold", "10")), Traffic.UpstreamDialect(path));
        await gateway.WaitForStartupProbeAsync();

        using var response = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead);
        var events = await Traffic.ReadStreamAsync(response);

        var (_, text) = Traffic.AssertEndsWithError(events, path);
        Assert.Contains(message, text);
        await Leaks.AssertNoneAsync(gateway);
        Assert.Equal(counts ? 1 : 0, Instance(gateway).ConsecutiveFailures);
    }

    [Fact]
    public async Task Team_OneUserBurstsBadRequests_TheOthersRequestsAllSucceed()
    {
        // Alice's requests carry an image the (text-only) upstream rejects with HTTP 500, as llama-server does; Bob's are fine.
        await using var upstream = await FakeUpstream.StartAsync((http, request) => request.BodyText.Contains("image_url", StringComparison.Ordinal)
            ? WriteErrorAsync(http, 500, LlamaError(500, "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj"))
            : TeamGateway.AnswerAsync(http, request));
        await using var gateway = await TeamGateway.StartAsync(upstream, Settings(("Gateway:Health:FailureThreshold", "3")), dialect: "openai");
        await gateway.WaitForStartupProbeAsync();

        const string image = """{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}""";
        var bursts = Task.Run(async () =>
        {
            var statuses = new List<HttpStatusCode>();
            for (var burst = 0; burst < 8; burst++)
            {
                var sent = Enumerable.Range(0, 6).Select(async _ =>
                {
                    using var response = await gateway.Client.SendAsync(TeamGateway.Request("/v1/chat/completions", TeamGateway.AliceKey, body: image));
                    return response.StatusCode;
                });
                statuses.AddRange(await Task.WhenAll(sent));
            }

            return statuses;
        });

        var bob = new List<HttpStatusCode>();
        while (!bursts.IsCompleted || bob.Count < 20)
        {
            using var response = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.BobKey));
            bob.Add(response.StatusCode);
        }

        Assert.All(await bursts, status => Assert.Equal(HttpStatusCode.BadRequest, status));
        Assert.All(bob, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.True(Instance(gateway).IsHealthy);
        Assert.Equal(0, Instance(gateway).Outages);
    }
}
