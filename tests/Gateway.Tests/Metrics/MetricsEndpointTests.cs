using System.Net;
using LlamaGateway.Metrics;
using LlamaGateway.Tests.Auth;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Metrics;

public sealed class MetricsEndpointTests
{
    private static readonly string[] Families =
    [
        "gateway_requests_total", "gateway_request_duration_seconds", "gateway_prompt_tokens_total", "gateway_cached_tokens_total",
        "gateway_recomputed_tokens_total", "gateway_output_tokens_total", "gateway_slot_busy", "gateway_slot_cached_tokens",
        "gateway_upstream_healthy", "gateway_queue_length",
    ];

    private static async Task<string> ScrapeAsync(GatewayHost gateway, string? key)
    {
        using var response = await gateway.Client.SendAsync(TeamGateway.Get("/metrics", key));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task Metrics_AfterTraffic_ParsesAsPrometheusTextWithEveryFamily()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);
        foreach (var (path, key, body) in new[]
        {
            ("/v1/messages", TeamGateway.AliceKey, TeamGateway.MessagesBody),
            ("/v1/messages", TeamGateway.AliceKey, TeamGateway.MessagesBody),
            ("/v1/messages/count_tokens", TeamGateway.BobKey, TeamGateway.MessagesBody),
            ("/v1/messages", TeamGateway.BobKey, TeamGateway.FailingMessagesBody),
            ("/v1/messages", "sk-wrong-key-00000", TeamGateway.MessagesBody),
        })
        {
            (await gateway.Client.SendAsync(TeamGateway.Request(path, key, body: body))).Dispose();
        }

        // Requests are counted as they end, just after the client has its response.
        await TeamGateway.EventuallyAsync(() => gateway.Service<LlamaGateway.Usage.UsageLedger>().Totals.Requests == 4, "four requests to be accounted");
        await TeamGateway.EventuallyAsync(() => gateway.Service<RequestMetrics>().Requests().Sum(r => r.Count) == 5, "five requests to be counted");
        var text = await ScrapeAsync(gateway, TeamGateway.AdminKey);

        var families = PrometheusTextParser.Parse(text);
        foreach (var family in Families)
        {
            Assert.True(families.ContainsKey(family), $"no {family} in\n{text}");
        }

        Assert.Equal("counter", families["gateway_requests_total"].Type);
        Assert.Equal("histogram", families["gateway_request_duration_seconds"].Type);
        Assert.Equal("gauge", families["gateway_slot_busy"].Type);
        var requests = families["gateway_requests_total"].Samples;
        Assert.Equal(2, Value(requests, ("route", "/v1/messages"), ("status", "200"), ("user", "alice")));
        Assert.Equal(1, Value(requests, ("route", "/v1/messages/count_tokens"), ("status", "200"), ("user", "bob")));
        Assert.Equal(1, Value(requests, ("route", "/v1/messages"), ("status", "500"), ("user", "bob")));
        Assert.Equal(1, Value(requests, ("route", "/v1/messages"), ("status", "401"), ("user", "(anonymous)")));
        var durations = families["gateway_request_duration_seconds"].Samples;
        Assert.Equal(4, Value(durations.Where(s => s.Name.EndsWith("_count", StringComparison.Ordinal)), ("route", "/v1/messages")));
        Assert.Equal(4, families["gateway_slot_busy"].Samples.Count);
        Assert.All(families["gateway_slot_busy"].Samples, s => Assert.Equal(0, s.Value));
        Assert.Equal(1, Value(families["gateway_upstream_healthy"].Samples, ("instance", "fake")));
        Assert.Equal(0, Assert.Single(families["gateway_queue_length"].Samples).Value);
        Assert.Equal(["alice", "bob"], families["gateway_output_tokens_total"].Samples.Select(s => s.Label("user")!).ToArray());
    }

    [Fact]
    public async Task Metrics_UserKey_Returns403()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);

        using var response = await gateway.Client.SendAsync(TeamGateway.Get("/metrics", TeamGateway.AliceKey));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("admin key", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("sk-wrong-key-00000")]
    public async Task Metrics_NoValidKey_Returns401(string? key)
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);

        using var response = await gateway.Client.SendAsync(TeamGateway.Get("/metrics", key));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Metrics_OpenGateway_ServedWithoutKey()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, dialect: "anthropic");
        (await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", key: null))).Dispose();
        await TeamGateway.EventuallyAsync(() => gateway.Service<RequestMetrics>().Requests().Sum(r => r.Count) == 1, "the request to be counted");

        var families = PrometheusTextParser.Parse(await ScrapeAsync(gateway, key: null));

        Assert.Equal(1, Assert.Single(families["gateway_open"].Samples).Value);
        Assert.Equal(1, Value(families["gateway_requests_total"].Samples, ("route", "/v1/messages"), ("status", "200"), ("user", "(anonymous)")));
    }

    private static double Value(IEnumerable<PrometheusSample> samples, params (string Name, string Value)[] labels) =>
        Assert.Single(samples, s => labels.All(l => s.Label(l.Name) == l.Value)).Value;
}
