using System.Diagnostics;
using System.Net;
using System.Text;
using LlamaGateway.Auth;
using LlamaGateway.Forwarding;
using LlamaGateway.Hosting;
using LlamaGateway.Reliability;
using LlamaGateway.Tests.Auth;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Forwarding;

/// <summary>
/// count_tokens holds no slot but used to share the upstream connections with generation, so one user's flood of
/// slow count_tokens held another user's turn for as long as the flood lasted. It now has a per-user cap and a
/// connection pool of its own; these tests flood it with count_tokens the fake upstream never answers until released.
/// </summary>
public sealed class FairShareTests : IAsyncLifetime
{
    private const string StreamedTurn = """{"model":"claude-x","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"bob's turn"}]}""";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _countTokensUpstream;
    private FakeUpstream _upstream = null!;

    public async Task InitializeAsync()
    {
        _upstream = await FakeUpstream.StartAsync(async (http, request) =>
        {
            if (request.Path.StartsWith("/v1/messages/count_tokens", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _countTokensUpstream);
                try
                {
                    await _release.Task.WaitAsync(http.RequestAborted);
                }
                finally
                {
                    Interlocked.Decrement(ref _countTokensUpstream);
                }
            }

            await TeamGateway.AnswerAsync(http, request);
        });
    }

    public async Task DisposeAsync()
    {
        _release.TrySetResult();
        await _upstream.DisposeAsync();
    }

    [Theory]
    [InlineData(30, 1)]
    [InlineData(60, 2)]
    public async Task CountTokensFlood_FromOtherUsers_AddsUnderHalfASecondToStreamedTurn(int flood, int floodingUsers)
    {
        await using var gateway = await TeamGateway.StartAsync(_upstream, new Dictionary<string, string?>
        {
            ["Gateway:Users:2:Name"] = "carol",
            ["Gateway:Users:2:ApiKey"] = CarolKey,
        }, dialect: "openai");
        var floodKeys = new[] { TeamGateway.AliceKey, CarolKey }[..floodingUsers];
        var baseline = await MeasureTurnsAsync(gateway);

        var requests = Enumerable.Range(0, flood).Select(i => gateway.Client.SendAsync(CountTokens(floodKeys[i % floodingUsers], i))).ToList();

        // The flood is in place: the upstream holds count_tokens and the rest wait in the gateway, each flooding user
        // at its cap with the remainder queued behind it.
        var limiter = gateway.Service<UserConcurrencyLimiter>();
        var cap = new LimitsOptions().CountTokens.MaxConcurrentRequestsPerUser;
        await Eventually.TrueAsync(() => Volatile.Read(ref _countTokensUpstream) >= UpstreamHttpClient.ShortRequestConnections
            && floodKeys.All(key => limiter.UserStatistics(UserOf(key), UserLimitPolicy.CountTokens) is var (active, queued) && active == cap && queued == flood / floodingUsers - cap), Bound);
        var duringFlood = await MeasureTurnsAsync(gateway);

        Assert.True(duringFlood - baseline < TimeSpan.FromSeconds(0.5), $"bob's turn took {duringFlood.TotalMilliseconds:0} ms during the flood, {baseline.TotalMilliseconds:0} ms without");

        // However many wait, count_tokens never holds more than its own pool's connections.
        Assert.Equal(UpstreamHttpClient.ShortRequestConnections, Volatile.Read(ref _countTokensUpstream));

        // The flood was only held up, never refused: released, every count_tokens is answered.
        _release.SetResult();
        foreach (var request in requests)
        {
            using var response = await request.WaitAsync(Bound);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Bob's turns never waited; the flood's log lines say where their time went.
        await Eventually.TrueAsync(() => gateway.Logs.Lines.Count(l => l.Contains("POST /v1/messages/count_tokens -> fake", StringComparison.Ordinal)) == flood, Bound);
        var lines = gateway.Logs.Lines.Where(l => l.Contains(" -> fake ", StringComparison.Ordinal)).ToList();
        Assert.All(lines.Where(l => l.Contains("user bob", StringComparison.Ordinal)), line => Assert.Contains("(no wait)", line, StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("for an upstream connection", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("behind the user's own requests (Gateway:Limits)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CountTokens_WaitingForItsPool_LogsTheMeasuredConnectionWait()
    {
        // Open gateway: no per-user cap, so the third request's only wait is for one of the pool's two connections.
        await using var gateway = await GatewayHost.StartAsync(_upstream.BaseUrl, new Dictionary<string, string?> { ["Gateway:Upstreams:0:Slots"] = "4" });
        var shutdown = gateway.Service<GatewayShutdown>();
        var requests = Enumerable.Range(0, UpstreamHttpClient.ShortRequestConnections + 1).Select(i => gateway.Client.SendAsync(CountTokens(key: null, i))).ToList();
        await Eventually.TrueAsync(() => shutdown.InFlight == requests.Count && Volatile.Read(ref _countTokensUpstream) == UpstreamHttpClient.ShortRequestConnections, Bound);

        // From here on the last request is known to be waiting for a connection; hold it there a while.
        var held = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromMilliseconds(200));
        var heldFor = held.Elapsed;
        _release.SetResult();
        foreach (var request in requests)
        {
            using var response = await request.WaitAsync(Bound);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Eventually.TrueAsync(() => gateway.Logs.Lines.Count(l => l.Contains("POST /v1/messages/count_tokens -> fake", StringComparison.Ordinal)) == requests.Count, Bound);
        var lines = gateway.Logs.Lines.Where(l => l.Contains("POST /v1/messages/count_tokens -> fake", StringComparison.Ordinal)).ToList();
        Assert.Equal(UpstreamHttpClient.ShortRequestConnections, lines.Count(l => l.Contains("(no wait)", StringComparison.Ordinal)));
        var waited = Assert.Single(lines, l => l.Contains("for an upstream connection", StringComparison.Ordinal));
        var match = System.Text.RegularExpressions.Regex.Match(waited, @"waited (\d+) ms for an upstream connection");
        Assert.True(match.Success, waited);
        var reported = TimeSpan.FromMilliseconds(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(reported >= heldFor - TimeSpan.FromMilliseconds(1), $"reported {reported.TotalMilliseconds} ms, held at least {heldFor.TotalMilliseconds:0} ms");
        Assert.True(reported < heldFor + Bound, $"reported {reported.TotalMilliseconds} ms");
    }

    private const string CarolKey = "sk-carol-5e8a2d7c41b9";

    private static string UserOf(string key) => key == TeamGateway.AliceKey ? "alice" : "carol";

    /// <summary>The median of five of bob's streamed turns, each read to its end.</summary>
    private static async Task<TimeSpan> MeasureTurnsAsync(GatewayHost gateway)
    {
        var times = new List<TimeSpan>();
        for (var i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            using var response = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.BobKey, body: StreamedTurn), HttpCompletionOption.ResponseHeadersRead).WaitAsync(Bound);
            var text = await response.Content.ReadAsStringAsync().WaitAsync(Bound);
            watch.Stop();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("message_stop", text, StringComparison.Ordinal);
            times.Add(watch.Elapsed);
        }

        times.Sort();
        return times[times.Count / 2];
    }

    private static HttpRequestMessage CountTokens(string? key, int i)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages/count_tokens")
        {
            Content = new StringContent($$"""{"model":"claude-x","messages":[{"role":"user","content":"count {{i}}"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("anthropic-version", "2023-06-01");
        if (key is not null)
        {
            request.Headers.Add("x-api-key", key);
        }

        return request;
    }
}
