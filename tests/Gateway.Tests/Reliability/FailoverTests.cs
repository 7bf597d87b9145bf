using System.Net;
using LlamaGateway.Conversations;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Routing;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// Retries go elsewhere only when nothing reached the upstream; conversations leave dead instances and the move is
/// counted as a failover; with nothing healthy the answer is a fast, explained 503.
/// </summary>
public sealed class FailoverTests
{
    private static Dictionary<string, string?> Pool(params string[] baseUrls)
    {
        var settings = new Dictionary<string, string?>
        {
            // Probes only at start-up: the requests themselves must discover the failures here.
            ["Gateway:Health:IntervalSeconds"] = "600",
            ["Gateway:Health:UnhealthyIntervalSeconds"] = "600",
        };
        for (var i = 0; i < baseUrls.Length; i++)
        {
            settings[$"Gateway:Upstreams:{i}:Name"] = $"u{i}";
            settings[$"Gateway:Upstreams:{i}:BaseUrl"] = baseUrls[i];
        }

        return settings;
    }

    [Fact]
    public async Task Request_ChosenInstanceRefusesConnection_RetriedOnAnotherAndSucceeds()
    {
        await using var first = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var second = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await GatewayHost.StartAsync(Pool(first.BaseUrl, second.BaseUrl));
        var registry = gateway.Service<UpstreamRegistry>();
        await Poll.UntilAsync(() => registry.Instances.All(i => i.SlotsDiscovered), "the start-up probes");

        // Dies after the probes said it was fine: only the request can find out.
        await first.KillAsync();
        for (var i = 0; i < 3; i++)
        {
            using var response = await gateway.Client.SendAsync(Traffic.Request(StreamPath.TranslatedAnthropic, stream: false));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.False(registry.Instances[0].IsHealthy);
        Assert.Contains("refused", registry.Instances[0].LastError);
        Assert.Equal(3, second.Requests.Count);
        Assert.Contains("Upstream u0 is unreachable, trying another instance", gateway.Logs.All);

        // The retried request succeeded: it is not accounted as a failure.
        Assert.DoesNotContain("failed after", gateway.Logs.All);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Fact]
    public async Task Request_UpstreamResetsAfterReceivingIt_RetriedOnceOnSameInstanceNeverElsewhere()
    {
        // The request reached a server that then dropped the connection. One retry on a connection of its own covers
        // llama-server closing a pooled connection just as it was taken; beyond that the request may be what breaks
        // the server, and it must not be carried to every instance in turn.
        Func<Microsoft.AspNetCore.Http.HttpContext, string, Task> crash = (http, _) =>
        {
            http.Abort();
            return Task.CompletedTask;
        };
        await using var first = await KillableUpstream.StartAsync(crash);
        await using var second = await KillableUpstream.StartAsync(crash);
        await using var gateway = await GatewayHost.StartAsync(Pool(first.BaseUrl, second.BaseUrl));

        using var response = await gateway.Client.SendAsync(Traffic.Request(StreamPath.TranslatedAnthropic, stream: false));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var (type, message) = await Traffic.ErrorBodyAsync(response, anthropic: true);
        Assert.Equal("api_error", type);
        Assert.Contains("'u", message);
        Assert.Equal(LlamaGateway.Forwarding.UpstreamForwarder.MaxModelRequestAttempts, first.Requests.Count + second.Requests.Count);
        Assert.True(first.Requests.IsEmpty || second.Requests.IsEmpty, $"u0 got {first.Requests.Count}, u1 got {second.Requests.Count}");
        Assert.DoesNotContain("trying another instance", gateway.Logs.All);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Fact]
    public async Task Request_UpstreamClosesConnectionWithoutAnswering_RetriedOnFreshConnectionAndAnswered()
    {
        // What llama-server does to a pooled connection: it closes it after every streamed response, unannounced.
        var calls = 0;
        var connectionHeaders = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var upstream = await KillableUpstream.StartAsync((http, _) =>
        {
            connectionHeaders.Enqueue(http.Request.Headers.Connection.ToString());
            if (Interlocked.Increment(ref calls) == 1)
            {
                http.Abort();
                return Task.CompletedTask;
            }

            return Traffic.WriteJsonAsync(http, StreamPath.TranslatedAnthropic);
        });
        await using var gateway = await GatewayHost.StartAsync(Pool(upstream.BaseUrl));

        using var response = await gateway.Client.SendAsync(Traffic.Request(StreamPath.TranslatedAnthropic, stream: false));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, upstream.Requests.Count);
        Assert.Equal(["", "close"], connectionHeaders.Select(h => h.ToLowerInvariant()).ToArray());
        Assert.True(gateway.Service<UpstreamRegistry>().Instances[0].IsHealthy);

        // Routine with llama-server, so neither YARP's forwarding-error warning nor a failure of the gateway's own is logged.
        Assert.DoesNotContain("An error was encountered before receiving a response", gateway.Logs.All);
        Assert.DoesNotContain(gateway.Logs.Lines, l => l.StartsWith("Warning ", StringComparison.Ordinal) && !l.Contains("No users are configured", StringComparison.Ordinal));
        await Leaks.AssertNoneAsync(gateway);
    }

    [Fact]
    public async Task Request_UpstreamClosesThenRefuses_502NamingItAndNotSentElsewhere()
    {
        // A server that crashed on the request: it drops the connection and its port is closed by the time of the
        // retry. The request must not move on to the next instance.
        KillableUpstream? first = null;
        KillableUpstream? second = null;
        Func<Microsoft.AspNetCore.Http.HttpContext, string, Task> CrashAndStay(Func<KillableUpstream?> which) => async (http, body) =>
        {
            // Kestrel stops listening before it aborts the connections, so the retry meets a closed port.
            _ = Task.Run(() => which()!.KillAsync());
            await Task.Delay(Timeout.Infinite, http.RequestAborted).ContinueWith(static _ => { }, TaskScheduler.Default);
        };
        first = await KillableUpstream.StartAsync(CrashAndStay(() => first));
        second = await KillableUpstream.StartAsync(CrashAndStay(() => second));
        await using (first)
        await using (second)
        {
            await using var gateway = await GatewayHost.StartAsync(Pool(first.BaseUrl, second.BaseUrl));
            var registry = gateway.Service<UpstreamRegistry>();
            await Poll.UntilAsync(() => registry.Instances.All(i => i.SlotsDiscovered), "the start-up probes");

            using var response = await gateway.Client.SendAsync(Traffic.Request(StreamPath.TranslatedAnthropic, stream: false));

            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            var (type, message) = await Traffic.ErrorBodyAsync(response, anthropic: true);
            Assert.Equal("api_error", type);
            Assert.Contains("closed the connection without answering and then refused a new one", message);
            Assert.Contains("not sent to another instance", message);
            Assert.Equal(1, first.Requests.Count + second.Requests.Count);
            Assert.DoesNotContain("trying another instance", gateway.Logs.All);
            await Leaks.AssertNoneAsync(gateway);
        }
    }

    [Fact]
    public async Task CountTokens_UpstreamClosesBeforeAnswering_RetriedAndAnswered()
    {
        // count_tokens generates nothing, so unlike a model request it may be sent again after an early close.
        var calls = 0;
        await using var upstream = await KillableUpstream.StartAsync((http, _) =>
        {
            if (Interlocked.Increment(ref calls) < LlamaGateway.Forwarding.UpstreamForwarder.MaxCountTokensAttempts)
            {
                http.Abort();
                return Task.CompletedTask;
            }

            http.Response.ContentType = "application/json";
            return Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(http.Response, """{"input_tokens":42}""");
        });
        await using var gateway = await GatewayHost.StartAsync(Pool(upstream.BaseUrl));

        using var response = await gateway.Client.SendAsync(CountTokens());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"input_tokens":42}""", await response.Content.ReadAsStringAsync());
        Assert.Equal(LlamaGateway.Forwarding.UpstreamForwarder.MaxCountTokensAttempts, upstream.Requests.Count(r => r.Path.EndsWith("count_tokens", StringComparison.Ordinal)));
        await Leaks.AssertNoneAsync(gateway);
    }

    [Fact]
    public async Task CountTokens_UpstreamAlwaysCloses_502AfterBoundedAttempts()
    {
        await using var upstream = await KillableUpstream.StartAsync((http, _) =>
        {
            http.Abort();
            return Task.CompletedTask;
        });
        await using var gateway = await GatewayHost.StartAsync(Pool(upstream.BaseUrl));

        using var response = await gateway.Client.SendAsync(CountTokens());

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var (type, _) = await Traffic.ErrorBodyAsync(response, anthropic: true);
        Assert.Equal("api_error", type);
        Assert.Equal(LlamaGateway.Forwarding.UpstreamForwarder.MaxCountTokensAttempts, upstream.Requests.Count(r => r.Path.EndsWith("count_tokens", StringComparison.Ordinal)));
        await Leaks.AssertNoneAsync(gateway);
    }

    private static HttpRequestMessage CountTokens() => new(HttpMethod.Post, "/v1/messages/count_tokens")
    {
        Content = new StringContent("""{"model":"m","messages":[{"role":"user","content":"hi"}]}""", System.Text.Encoding.UTF8, "application/json"),
    };

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    public async Task Request_NoInstanceHealthy_Returns503FastNamingEachInstance(StreamPath path)
    {
        await using var gateway = await GatewayHost.StartAsync(Pool(Ports.DeadUrl(), Ports.DeadUrl()));

        var started = System.Diagnostics.Stopwatch.StartNew();
        using var response = await gateway.Client.SendAsync(Traffic.Request(path));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(2), $"took {started.Elapsed}");
        Assert.NotNull(response.Headers.RetryAfter);
        var (type, message) = await Traffic.ErrorBodyAsync(response, Traffic.ClientIsAnthropic(path));
        Assert.Equal(Traffic.ClientIsAnthropic(path) ? "overloaded_error" : "unavailable_error", type);
        Assert.Contains("'u0'", message);
        Assert.Contains("'u1'", message);
        Assert.Contains("refused", message);
        if (Traffic.ClientIsAnthropic(path))
        {
            Assert.Equal("true", response.Headers.GetValues("x-should-retry").Single());
        }

        await Leaks.AssertNoneAsync(gateway);
    }

    [Fact]
    public async Task Request_ConnectTimesOut_Returns503NamingConnectSeconds()
    {
        using var blackhole = new BlackholeListener();
        var settings = Pool(blackhole.BaseUrl);
        settings["Gateway:Timeouts:ConnectSeconds"] = "0.5";
        settings["Gateway:Upstreams:0:Slots"] = "2";
        settings["Gateway:Health:ProbeTimeoutSeconds"] = "0.3";
        settings["Gateway:Health:ProbeRetries"] = "0";
        await using var gateway = await GatewayHost.StartAsync(settings);
        var instance = gateway.Service<UpstreamRegistry>().Instances[0];

        // The start-up probe times out first; put the instance back so the request itself meets the connect timeout.
        await Poll.UntilAsync(() => instance.Outages > 0, "the start-up probe to time out");
        Assert.Contains("Gateway:Health:ProbeTimeoutSeconds", instance.LastError);
        instance.MarkHealthy();
        var started = System.Diagnostics.Stopwatch.StartNew();
        using var response = await gateway.Client.SendAsync(Traffic.Request(StreamPath.OpenAiPassThrough));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(3), $"took {started.Elapsed}");
        var (_, message) = await Traffic.ErrorBodyAsync(response, anthropic: false);
        Assert.Contains("no connection within 0.5 s (Gateway:Timeouts:ConnectSeconds)", message);
        Assert.Contains("'u0'", message);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Fact]
    public async Task Conversation_PinnedInstanceKilled_NextTurnFailsOverAndIsCounted()
    {
        await using var first = await KillableUpstream.StartAsync((http, _) => Traffic.WriteWholeStreamAsync(http, StreamPath.TranslatedAnthropic));
        await using var second = await KillableUpstream.StartAsync((http, _) => Traffic.WriteWholeStreamAsync(http, StreamPath.TranslatedAnthropic));
        await using var gateway = await GatewayHost.StartAsync(Pool(first.BaseUrl, second.BaseUrl));
        var registry = gateway.Service<UpstreamRegistry>();
        await Poll.UntilAsync(() => registry.Instances.All(i => i.SlotsDiscovered), "the start-up probes");

        async Task TurnAsync(string fixture)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages?beta=true") { Content = new ByteArrayContent(Fixtures.RecordedBody(fixture)) };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            request.Headers.Add("anthropic-version", "2023-06-01");
            using var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Traffic.AssertCompleted(await Traffic.ReadStreamAsync(response), StreamPath.TranslatedAnthropic);
        }

        await TurnAsync("turn1-first");
        var conversation = Assert.Single(gateway.Service<ConversationTable>().Snapshot());
        var home = registry.Find(conversation.Instance!)!;
        var other = registry.Instances.Single(i => i != home);
        await (home.Name == "u0" ? first : second).KillAsync();

        await TurnAsync("turn2-continue");

        Assert.Same(conversation, Assert.Single(gateway.Service<ConversationTable>().Snapshot()));
        Assert.Equal(other.Name, conversation.Instance);
        Assert.Equal(1, conversation.Failovers);
        Assert.Equal(0, conversation.Repins);
        Assert.Equal(1, home.FailoversOut);
        Assert.Equal(1, other.FailoversIn);
        Assert.False(home.IsHealthy);
        Assert.Contains("(failover)", gateway.Logs.All);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Fact]
    public async Task RouteAsync_PinnedInstanceGoesDown_NextTurnFailsOverAndIsCountedApartFromRepins()
    {
        using var router = new RouterHarness("a", "b");
        var turn1 = router.Request(1);
        var lease1 = await router.RouteNowAsync(turn1);
        var home = lease1.Instance;
        var other = router.Registry.Instances.Single(i => i != home);
        router.Finish(turn1, lease1);

        home.MarkUnhealthy("connection refused");
        var turn2 = router.Request(1, 2, 3);
        var lease2 = await router.RouteNowAsync(turn2);

        Assert.Same(other, lease2.Instance);
        Assert.Equal("failover", lease2.Reason);
        var conversation = turn2.Conversation!;
        Assert.Same(turn1.Conversation, conversation);
        Assert.Equal(1, conversation.Failovers);
        Assert.Equal(0, conversation.Repins);
        Assert.Equal(1, home.FailoversOut);
        Assert.Equal(1, other.FailoversIn);
        router.Finish(turn2, lease2);

        // The old instance restarts with empty slots: the conversation stays where its cache now is.
        home.MarkHealthy();
        var turn3 = router.Request(1, 2, 3, 4, 5);
        var lease3 = await router.RouteNowAsync(turn3);

        Assert.Same(other, lease3.Instance);
        Assert.Equal("own-slot", lease3.Reason);
        Assert.Equal(1, conversation.Failovers);
        router.Finish(turn3, lease3);
        Assert.Equal(0, router.Router.QueueLength);
    }

    [Fact]
    public async Task RouteAsync_PinnedInstanceRemovedFromConfiguration_CountsAsFailover()
    {
        using var router = new RouterHarness("a", "b");
        var turn1 = router.Request(7);
        var lease1 = await router.RouteNowAsync(turn1);
        var home = lease1.Instance.Name;
        router.Finish(turn1, lease1);

        router.SetUpstreams(home == "a" ? "b" : "a");
        var turn2 = router.Request(7, 8, 9);
        var lease2 = await router.RouteNowAsync(turn2);

        Assert.NotEqual(home, lease2.Instance.Name);
        Assert.Equal("failover", lease2.Reason);
        Assert.Equal(1, turn2.Conversation!.Failovers);
        router.Finish(turn2, lease2);
    }

    /// <summary>A router over named instances with a manual clock, as the routing unit tests build it.</summary>
    private sealed class RouterHarness : IDisposable
    {
        private readonly ManualTimeProvider _time = new();
        private readonly StaticOptionsMonitor<GatewayOptions> _gateway;
        private readonly StaticOptionsMonitor<RoutingOptions> _routing = new(new RoutingOptions());
        private readonly ConversationTable _conversations;

        public RouterHarness(params string[] names)
        {
            _gateway = new StaticOptionsMonitor<GatewayOptions>(Options(names));
            Registry = new UpstreamRegistry(_gateway);
            _conversations = new ConversationTable(_routing, _time);
            Router = new SlotRouter(Registry, _routing, _time);
        }

        public UpstreamRegistry Registry { get; }

        public SlotRouter Router { get; }

        public void SetUpstreams(params string[] names) => _gateway.Set(Options(names));

        public GatewayRequestContext Request(params ulong[] chain)
        {
            var fingerprint = new ConversationFingerprint
            {
                PrefixKey = 0xABC,
                Chain = chain,
                PromptChars = 40_000,
                PrefixChars = 30_000,
                ChainChars = chain.Select((_, i) => 30_000 + ((i + 1) * 10_000 / chain.Length)).ToArray(),
                ToolCount = 12,
                Model = "claude-opus",
                MaxTokens = 32_000,
            };
            var request = new GatewayRequestContext(ApiRoute.Messages, _time.GetTimestamp()) { User = "alice", Fingerprint = fingerprint };
            request.Conversation = _conversations.Resolve(fingerprint, "alice", "alice", null);
            return request;
        }

        public async Task<RoutingLease> RouteNowAsync(GatewayRequestContext request)
        {
            var task = Router.RouteAsync(request, request.Conversation, CancellationToken.None).AsTask();
            Assert.True(task.IsCompleted, "expected an immediate placement");
            return (await task)!;
        }

        public void Finish(GatewayRequestContext request, RoutingLease lease)
        {
            request.UpstreamResponded = true;
            request.Usage.PromptTokens = 11_000;
            request.Usage.CachedTokens = 0;
            request.Usage.OutputTokens = 10;
            lease.Dispose();
        }

        public void Dispose()
        {
            _conversations.Dispose();
            Registry.Dispose();
        }

        private static GatewayOptions Options(string[] names) => new()
        {
            Upstreams = names.Select(n => new UpstreamOptions { Name = n, BaseUrl = $"http://127.0.0.1:1/{n}", Slots = 2 }).ToList(),
        };
    }
}
