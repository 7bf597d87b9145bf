using System.Net;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// Upstreams that die, stall or stop early mid-stream, on each of the three response paths: the client always gets
/// a well-formed error event in its own dialect as the last event, slots are released, and the gateway keeps serving.
/// </summary>
public sealed class StreamFailureTests
{
    private static Dictionary<string, string?> Settings(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            // Passive health must not take the only instance out in these tests.
            ["Gateway:Health:FailureThreshold"] = "100",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    public async Task Stream_UpstreamConnectionDiesMidStream_EndsWithErrorEventAndGatewayKeepsServing(StreamPath path)
    {
        var clientSawFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                await Traffic.WriteFirstEventAsync(http, path);
                await clientSawFirst.Task.WaitAsync(Traffic.Bound);
                http.Abort();
                return;
            }

            await Traffic.WriteWholeStreamAsync(http, path);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(), Traffic.UpstreamDialect(path));

        using (var response = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var events = new SseClient(await response.Content.ReadAsStreamAsync());
            var first = await events.NextEventAsync().WaitAsync(Traffic.Bound);
            Assert.NotNull(first);
            clientSawFirst.SetResult();
            var all = await events.ReadAllAsync().WaitAsync(Traffic.Bound);
            all.Insert(0, first!);

            var (type, message) = Traffic.AssertEndsWithError(all, path);
            Assert.Equal(Traffic.ClientIsAnthropic(path) ? "api_error" : "server_error", type);
            Assert.Contains("'fake'", message);
        }

        await Leaks.AssertNoneAsync(gateway);
        using var next = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead);
        Traffic.AssertCompleted(await Traffic.ReadStreamAsync(next), path);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    public async Task Stream_UpstreamClosesWithoutFinishing_EndsWithErrorEvent(StreamPath path)
    {
        // A clean end of the body without [DONE] / message_stop: looks like success on the wire, is a truncation.
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            await Traffic.WriteFirstEventAsync(http, path);
            await Traffic.WriteDeltaAsync(http, path);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(), Traffic.UpstreamDialect(path));

        using var response = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead);
        var events = await Traffic.ReadStreamAsync(response);

        var (_, message) = Traffic.AssertEndsWithError(events, path);
        Assert.False(string.IsNullOrWhiteSpace(message));
        await Leaks.AssertNoneAsync(gateway);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    public async Task Stream_UpstreamGoesSilentMidStream_EndsWithIdleTimeoutErrorEvent(StreamPath path)
    {
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            await Traffic.WriteFirstEventAsync(http, path);
            await Task.Delay(Timeout.Infinite, http.RequestAborted);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(("Gateway:Timeouts:StreamIdleSeconds", "0.5")), Traffic.UpstreamDialect(path));

        using var response = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead);
        var events = await Traffic.ReadStreamAsync(response);

        var (type, message) = Traffic.AssertEndsWithError(events, path);
        Assert.Equal("timeout_error", type);
        Assert.Contains("Gateway:Timeouts:StreamIdleSeconds", message);
        Assert.Contains("mid-stream", message);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    public async Task Stream_HeadersButNoFirstEvent_EndsWithFirstByteTimeoutErrorEvent(StreamPath path)
    {
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            await FakeUpstream.StartStreamAsync(http);
            await http.Response.Body.FlushAsync(http.RequestAborted);
            await Task.Delay(Timeout.Infinite, http.RequestAborted);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl,
            Settings(("Gateway:Timeouts:FirstByteSeconds", "0.5"), ("Gateway:Timeouts:StreamIdleSeconds", "30")), Traffic.UpstreamDialect(path));

        using var response = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead);
        var events = await Traffic.ReadStreamAsync(response);

        var (type, message) = Traffic.AssertEndsWithError(events, path);
        Assert.Equal("timeout_error", type);
        Assert.Contains("Gateway:Timeouts:FirstByteSeconds", message);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    public async Task Request_NoResponseHeaders_Returns504NamingFirstByteTimeout(StreamPath path)
    {
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) => await Task.Delay(Timeout.Infinite, http.RequestAborted));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(("Gateway:Timeouts:FirstByteSeconds", "0.5")), Traffic.UpstreamDialect(path));

        using var response = await gateway.Client.SendAsync(Traffic.Request(path));

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        var (type, message) = await Traffic.ErrorBodyAsync(response, Traffic.ClientIsAnthropic(path));
        Assert.Equal("timeout_error", type);
        Assert.Contains("Gateway:Timeouts:FirstByteSeconds", message);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    public async Task Json_BodyStallsAfterHeaders_Returns504NamingIdleTimeout(StreamPath path)
    {
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync("{\"id\":", http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
            await Task.Delay(Timeout.Infinite, http.RequestAborted);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(("Gateway:Timeouts:StreamIdleSeconds", "0.5")), Traffic.UpstreamDialect(path));

        using var response = await gateway.Client.SendAsync(Traffic.Request(path, stream: false));

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        var (_, message) = await Traffic.ErrorBodyAsync(response, Traffic.ClientIsAnthropic(path));
        Assert.Contains("Gateway:Timeouts:StreamIdleSeconds", message);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    public async Task Json_UpstreamDiesWhileSendingBody_Returns502InClientDialect(StreamPath path)
    {
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            http.Response.ContentType = "application/json";
            http.Response.ContentLength = 10_000;
            await http.Response.WriteAsync("{\"id\":", http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
            http.Abort();
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(), Traffic.UpstreamDialect(path));

        using var response = await gateway.Client.SendAsync(Traffic.Request(path, stream: false));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var (_, message) = await Traffic.ErrorBodyAsync(response, Traffic.ClientIsAnthropic(path));
        Assert.Contains("'fake'", message);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    public async Task Stream_LongerThanFirstByteTimeoutWithSteadyEvents_CompletesNormally(StreamPath path)
    {
        // The first-byte timeout bounds the wait for the first event only, never a long generation. (2 s, not 1: a
        // cold first request on a busy 2-core machine has taken over 1 s to get its headers.)
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            await Traffic.WriteFirstEventAsync(http, path);
            for (var i = 0; i < 14; i++)
            {
                await Task.Delay(250, http.RequestAborted);
                await Traffic.WriteDeltaAsync(http, path, $"t{i}");
            }

            await Traffic.WriteEndAsync(http, path);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl,
            Settings(("Gateway:Timeouts:FirstByteSeconds", "1"), ("Gateway:Timeouts:StreamIdleSeconds", "5")), Traffic.UpstreamDialect(path));

        using var response = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead);
        var events = await Traffic.ReadStreamAsync(response);

        Traffic.AssertCompleted(events, path);
        Assert.True(gateway.Service<UpstreamRegistry>().Instances[0].IsHealthy);
    }

    [Fact]
    public async Task Stream_OneConversationsUpstreamHangs_OtherConversationsAreServedMeanwhile()
    {
        var hung = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync(async (http, recorded) =>
        {
            if (recorded.BodyText.Contains("conversation 0", StringComparison.Ordinal))
            {
                await Traffic.WriteFirstEventAsync(http, StreamPath.TranslatedAnthropic);
                hung.TrySetResult();
                await Task.Delay(Timeout.Infinite, http.RequestAborted);
                return;
            }

            await Traffic.WriteWholeStreamAsync(http, StreamPath.TranslatedAnthropic);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(("Gateway:Timeouts:StreamIdleSeconds", "3"), ("Gateway:Upstreams:0:Slots", "4")));

        // Main-conversation requests (tools, a long prompt), each its own conversation, so each gets its own slot.
        static HttpRequestMessage Conversation(int n)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
            {
                Content = new StringContent($$$"""{"model":"claude-x","max_tokens":100,"stream":true,"tools":[{"name":"Read","description":"read a file","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"conversation {{{n}}}: {{{new string('x', 6_000)}}}"}]}""", System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("anthropic-version", "2023-06-01");
            return request;
        }

        using var stuck = await gateway.Client.SendAsync(Conversation(0), HttpCompletionOption.ResponseHeadersRead);
        var stuckEvents = Traffic.ReadStreamAsync(stuck);
        await hung.Task.WaitAsync(Traffic.Bound);

        var started = System.Diagnostics.Stopwatch.StartNew();
        for (var n = 1; n <= 3; n++)
        {
            using var other = await gateway.Client.SendAsync(Conversation(n), HttpCompletionOption.ResponseHeadersRead);
            Traffic.AssertCompleted(await Traffic.ReadStreamAsync(other), StreamPath.TranslatedAnthropic);
        }

        Assert.True(started.Elapsed < TimeSpan.FromSeconds(2.5), $"the other conversations waited {started.Elapsed}");
        Assert.False(stuckEvents.IsCompleted);
        var (type, _) = Traffic.AssertEndsWithError(await stuckEvents, StreamPath.TranslatedAnthropic);
        Assert.Equal("timeout_error", type);
        await Leaks.AssertNoneAsync(gateway);
    }
}
