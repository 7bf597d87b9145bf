using System.Net;
using LlamaGateway.Reliability;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;
using Microsoft.AspNetCore.Http;
using Polly.CircuitBreaker;

namespace LlamaGateway.Tests.Reliability;

/// <summary>Active probes and passive detection take failing instances out of routing and bring them back.</summary>
public sealed class HealthTests
{
    private static Dictionary<string, string?> Fast(string baseUrl, params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:Name"] = "fake",
            ["Gateway:Upstreams:0:BaseUrl"] = baseUrl,
            ["Gateway:Health:IntervalSeconds"] = "0.2",
            ["Gateway:Health:UnhealthyIntervalSeconds"] = "0.1",
            ["Gateway:Health:ProbeTimeoutSeconds"] = "1",
            ["Gateway:Health:ProbeRetries"] = "1",
            ["Gateway:Health:BreakSeconds"] = "0.5",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    private static UpstreamInstance Instance(GatewayHost gateway) => gateway.Service<UpstreamRegistry>().Instances[0];

    [Fact]
    public async Task Monitor_InstanceKilledThenRestarted_LeavesRoutingAndComesBack()
    {
        await using var upstream = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await GatewayHost.StartAsync(Fast(upstream.BaseUrl));
        using (var ok = await gateway.Client.SendAsync(Traffic.Request(StreamPath.TranslatedAnthropic, stream: false)))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        await upstream.KillAsync();
        await Poll.UntilAsync(() => !Instance(gateway).IsHealthy, "the probe to take the killed instance out");

        var started = System.Diagnostics.Stopwatch.StartNew();
        using (var down = await gateway.Client.SendAsync(Traffic.Request(StreamPath.TranslatedAnthropic, stream: false)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(2), $"took {started.Elapsed}");
            Assert.NotNull(down.Headers.RetryAfter);
            var (type, message) = await Traffic.ErrorBodyAsync(down, anthropic: true);
            Assert.Equal("overloaded_error", type);
            Assert.Contains("'fake'", message);
        }

        await upstream.RestartAsync();
        await Poll.UntilAsync(() => Instance(gateway).IsHealthy, "the probe to bring the restarted instance back");
        using (var back = await gateway.Client.SendAsync(Traffic.Request(StreamPath.TranslatedAnthropic, stream: false)))
        {
            Assert.Equal(HttpStatusCode.OK, back.StatusCode);
        }

        Assert.Equal(1, Instance(gateway).Outages);
        Assert.Equal(1, Instance(gateway).Generation);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Fact]
    public async Task Passive_Repeated5xx_TakesInstanceOutUntilAProbeSucceeds()
    {
        var broken = true;
        await using var upstream = await KillableUpstream.StartAsync(async (http, _) =>
        {
            if (Volatile.Read(ref broken))
            {
                http.Response.StatusCode = 500;
                await http.Response.WriteAsync("""{"error":{"code":500,"message":"slot crashed","type":"server_error"}}""");
                return;
            }

            await Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough);
        });

        // Slow probes: only the passive signal can take the instance out during the test.
        await using var gateway = await GatewayHost.StartAsync(Fast(upstream.BaseUrl,
            ("Gateway:Health:FailureThreshold", "2"), ("Gateway:Health:IntervalSeconds", "600"), ("Gateway:Health:UnhealthyIntervalSeconds", "600")));
        await Poll.UntilAsync(() => upstream.HealthChecks > 0 && Instance(gateway).SlotsDiscovered, "the start-up probe");

        for (var i = 0; i < 2; i++)
        {
            // Same dialect on both sides: the upstream's own error (and status) reaches the client.
            using var failed = await gateway.Client.SendAsync(Traffic.Request(StreamPath.OpenAiPassThrough, stream: false));
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        }

        Assert.False(Instance(gateway).IsHealthy);
        using (var refused = await gateway.Client.SendAsync(Traffic.Request(StreamPath.OpenAiPassThrough, stream: false)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            var (_, message) = await Traffic.ErrorBodyAsync(refused, anthropic: false);
            Assert.Contains("HTTP 500", message);
        }

        Assert.Equal(2, upstream.Requests.Count);
        Assert.Contains("taken out of routing after 2 failed request(s)", gateway.Logs.All);

        Volatile.Write(ref broken, false);
        await gateway.Service<UpstreamMonitor>().ProbeAsync(Instance(gateway), CancellationToken.None);
        Assert.True(Instance(gateway).IsHealthy);
        using var ok = await gateway.Client.SendAsync(Traffic.Request(StreamPath.OpenAiPassThrough, stream: false));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task Passive_MidStreamFailures_CountTowardTheThreshold()
    {
        var clientSawFirst = new SemaphoreSlim(0);
        await using var upstream = await KillableUpstream.StartAsync(async (http, _) =>
        {
            await Traffic.WriteFirstEventAsync(http, StreamPath.OpenAiPassThrough);
            await clientSawFirst.WaitAsync(Traffic.Bound);
            http.Abort();
        });
        await using var gateway = await GatewayHost.StartAsync(Fast(upstream.BaseUrl,
            ("Gateway:Health:FailureThreshold", "2"), ("Gateway:Health:IntervalSeconds", "600"), ("Gateway:Health:UnhealthyIntervalSeconds", "600")));
        await Poll.UntilAsync(() => upstream.HealthChecks > 0, "the start-up probe");

        async Task BrokenStreamAsync()
        {
            using var response = await gateway.Client.SendAsync(Traffic.Request(StreamPath.OpenAiPassThrough), HttpCompletionOption.ResponseHeadersRead);
            using var events = new SseClient(await response.Content.ReadAsStreamAsync());
            var first = await events.NextEventAsync().WaitAsync(Traffic.Bound);
            clientSawFirst.Release();
            var all = await events.ReadAllAsync().WaitAsync(Traffic.Bound);
            all.Insert(0, first!);
            Traffic.AssertEndsWithError(all, StreamPath.OpenAiPassThrough);
        }

        await BrokenStreamAsync();
        await Poll.UntilAsync(() => Instance(gateway).ConsecutiveFailures == 1, "the first failure to be counted");
        Assert.True(Instance(gateway).IsHealthy);
        await BrokenStreamAsync();

        await Poll.UntilAsync(() => !Instance(gateway).IsHealthy, "the second broken stream to take the instance out");
        Assert.Contains("mid-stream", Instance(gateway).LastError);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Fact]
    public async Task Passive_ClientErrors_DoNotCountAgainstTheInstance()
    {
        await using var upstream = await KillableUpstream.StartAsync(async (http, _) =>
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsync("""{"error":{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}}""");
        });
        await using var gateway = await GatewayHost.StartAsync(Fast(upstream.BaseUrl, ("Gateway:Health:FailureThreshold", "2")));

        for (var i = 0; i < 4; i++)
        {
            using var response = await gateway.Client.SendAsync(Traffic.Request(StreamPath.OpenAiPassThrough, stream: false));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        Assert.True(Instance(gateway).IsHealthy);
        Assert.Equal(0, Instance(gateway).ConsecutiveFailures);
    }

    [Fact]
    public async Task Probe_HealthAnswers503WhileLoading_OutOfRoutingUntilReady()
    {
        await using var upstream = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        upstream.HealthStatus = 503;
        await using var gateway = await GatewayHost.StartAsync(Fast(upstream.BaseUrl));

        await Poll.UntilAsync(() => !Instance(gateway).IsHealthy, "the loading instance to be taken out");
        Assert.Contains("503", Instance(gateway).LastError);
        using (var refused = await gateway.Client.SendAsync(Traffic.Request(StreamPath.OpenAiPassThrough, stream: false)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        }

        upstream.HealthStatus = 200;
        await Poll.UntilAsync(() => Instance(gateway).IsHealthy, "the loaded instance to come back");
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData("this is not json")]
    [InlineData("[1,2,3]")]
    [InlineData("""{"total_slots":"four","model_path":42}""")]
    [InlineData("""{"total_slots":99999999999}""")]
    public async Task Probe_GarbageProps_InstanceStaysHealthyAndProbingGoesOn(string props)
    {
        await using var upstream = await KillableUpstream.StartAsync();
        upstream.PropsBody = props;
        await using var gateway = await GatewayHost.StartAsync(Fast(upstream.BaseUrl));

        await Poll.UntilAsync(() => upstream.HealthChecks >= 3, "several probe rounds");

        Assert.True(Instance(gateway).IsHealthy);
        Assert.False(gateway.Service<UpstreamMonitor>().ExecuteTask!.IsCompleted);
    }

    [Fact]
    public async Task Pipeline_InstanceKeepsFailing_CircuitOpensAndProbesFailFastWithoutCalling()
    {
        await using var upstream = await KillableUpstream.StartAsync();
        upstream.HealthStatus = 500;
        await using var gateway = await GatewayHost.StartAsync(Fast(upstream.BaseUrl,
            ("Gateway:Health:ProbeRetries", "2"), ("Gateway:Health:BreakSeconds", "60"), ("Gateway:Health:IntervalSeconds", "600"), ("Gateway:Health:UnhealthyIntervalSeconds", "600")));
        var pipelines = gateway.Service<UpstreamCallPipelines>();

        // The start-up probe makes three attempts (one try, two retries with backoff): all fail, the circuit opens.
        await Poll.UntilAsync(() => pipelines.CircuitState(Instance(gateway)) == CircuitState.Open && !Instance(gateway).IsHealthy, "the circuit to open");
        Assert.Equal(3, upstream.HealthChecks);

        var started = System.Diagnostics.Stopwatch.StartNew();
        await gateway.Service<UpstreamMonitor>().ProbeAsync(Instance(gateway), CancellationToken.None);

        Assert.True(started.Elapsed < TimeSpan.FromSeconds(1), $"took {started.Elapsed}");
        Assert.Equal(3, upstream.HealthChecks);
        Assert.False(Instance(gateway).IsHealthy);
        Assert.Contains("Circuit for the gateway's own calls to fake opened", gateway.Logs.All);
    }
}
