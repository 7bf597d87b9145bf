using System.Net;
using System.Text.Json;
using LlamaGateway.Auth;
using LlamaGateway.Hosting;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Auth;

public sealed class UserLimitTests : IAsyncLifetime
{
    private const string HeldMessages = """{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","content":"hold this one"}]}""";
    private const string HeldChat = """{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hold this one"}]}""";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    // Requests whose prompt says "hold" stay in the upstream until the test lets them go.
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private FakeUpstream _upstream = null!;

    public async Task InitializeAsync()
    {
        _upstream = await FakeUpstream.StartAsync(async (http, request) =>
        {
            if (request.BodyText.Contains("hold", StringComparison.Ordinal))
            {
                await _release.Task.WaitAsync(http.RequestAborted);
            }

            await TeamGateway.AnswerAsync(http, request);
        });
    }

    public async Task DisposeAsync()
    {
        _release.TrySetResult();
        await _upstream.DisposeAsync();
    }

    private static Dictionary<string, string?> Limits(int max, int queue, double seconds) => new()
    {
        ["Gateway:Limits:MaxConcurrentRequestsPerUser"] = max.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Gateway:Limits:QueueLimit"] = queue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Gateway:Limits:QueueSeconds"] = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static Dictionary<string, string?> CountTokensLimits(int max, int queue, double seconds) => new()
    {
        ["Gateway:Limits:CountTokens:MaxConcurrentRequestsPerUser"] = max.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Gateway:Limits:CountTokens:QueueLimit"] = queue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Gateway:Limits:CountTokens:QueueSeconds"] = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private async Task WaitForUpstreamRequestsAsync(int count)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (_upstream.Requests.Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the upstream saw {_upstream.Requests.Count} of {count} requests");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Messages_OverUserCap_Returns429WithRetryAfterInAnthropicFormat()
    {
        await using var gateway = await TeamGateway.StartAsync(_upstream, Limits(max: 1, queue: 0, seconds: 30));
        var held = gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey, body: HeldMessages));
        await WaitForUpstreamRequestsAsync(1);

        using var refused = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey, bearer: true));

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
        Assert.True(refused.Headers.RetryAfter!.Delta!.Value.TotalSeconds >= 1);
        Assert.Equal("true", refused.Headers.GetValues("x-should-retry").Single());
        using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Equal("error", error.RootElement.GetProperty("type").GetString());
        Assert.Equal("rate_limit_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("alice", error.RootElement.GetProperty("error").GetProperty("message").GetString());
        Assert.Single(_upstream.Requests);

        // Another user is not held back by alice's cap.
        using var bob = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.BobKey));
        Assert.Equal(HttpStatusCode.OK, bob.StatusCode);

        _release.SetResult();
        using var first = await held.WaitAsync(Bound);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Contains("rejected with 429 for user alice", gateway.Logs.All);
    }

    [Fact]
    public async Task ChatCompletions_OverUserCap_Returns429InOpenAiFormat()
    {
        await using var gateway = await TeamGateway.StartAsync(_upstream, Limits(max: 1, queue: 0, seconds: 30), dialect: "openai");
        var held = gateway.Client.SendAsync(TeamGateway.Request("/v1/chat/completions", TeamGateway.BobKey, body: HeldChat));
        await WaitForUpstreamRequestsAsync(1);

        using var refused = await gateway.Client.SendAsync(TeamGateway.Request("/v1/chat/completions", TeamGateway.BobKey));

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
        using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Equal("rate_limit_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(429, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());

        _release.SetResult();
        using var first = await held.WaitAsync(Bound);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
    }

    [Fact]
    public async Task Messages_QueuedBehindUserCap_RunsWhenPlaceFrees()
    {
        await using var gateway = await TeamGateway.StartAsync(_upstream, Limits(max: 1, queue: 1, seconds: 60));
        var limiter = gateway.Service<UserConcurrencyLimiter>();
        var held = gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey, body: HeldMessages));
        await WaitForUpstreamRequestsAsync(1);
        var queued = gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey));

        var deadline = DateTime.UtcNow + Bound;
        while (limiter.UserStatistics("alice") is not (1, 1))
        {
            Assert.True(DateTime.UtcNow < deadline, $"alice's statistics: {limiter.UserStatistics("alice")}");
            await Task.Delay(10);
        }

        Assert.Single(_upstream.Requests);
        _release.SetResult();

        using var first = await held.WaitAsync(Bound);
        using var second = await queued.WaitAsync(Bound);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(2, _upstream.Requests.Count);
    }

    [Fact]
    public async Task Messages_QueueWaitRunsOut_Returns429NamingQueueSeconds()
    {
        await using var gateway = await TeamGateway.StartAsync(_upstream, Limits(max: 1, queue: 4, seconds: 0.3));
        var held = gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey, body: HeldMessages));
        await WaitForUpstreamRequestsAsync(1);

        using var refused = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey)).WaitAsync(Bound);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
        Assert.Contains("QueueSeconds", await refused.Content.ReadAsStringAsync());
        _release.SetResult();
        (await held.WaitAsync(Bound)).Dispose();
    }

    [Fact]
    public async Task CountTokens_UserAtGenerationCap_IsServed()
    {
        await using var gateway = await TeamGateway.StartAsync(_upstream, Limits(max: 1, queue: 0, seconds: 30));
        var held = gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey, body: HeldMessages));
        await WaitForUpstreamRequestsAsync(1);

        var burst = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => gateway.Client.SendAsync(TeamGateway.Request("/v1/messages/count_tokens", TeamGateway.AliceKey))));

        Assert.All(burst, response => Assert.Equal(HttpStatusCode.OK, response.StatusCode));
        _release.SetResult();
        (await held.WaitAsync(Bound)).Dispose();
    }

    [Fact]
    public async Task CountTokens_OverItsOwnCap_Returns429NamingCountTokensLimits()
    {
        await using var gateway = await TeamGateway.StartAsync(_upstream, CountTokensLimits(max: 1, queue: 0, seconds: 30));
        var held = gateway.Client.SendAsync(TeamGateway.Request("/v1/messages/count_tokens", TeamGateway.AliceKey, body: HeldMessages));
        await WaitForUpstreamRequestsAsync(1);

        using var refused = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages/count_tokens", TeamGateway.AliceKey));
        using var generation = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey));
        using var bob = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages/count_tokens", TeamGateway.BobKey));

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
        using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Equal("rate_limit_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("Gateway:Limits:CountTokens", error.RootElement.GetProperty("error").GetProperty("message").GetString());

        // Alice's count_tokens cap leaves her generation cap alone, and bob has a count_tokens cap of his own.
        Assert.Equal(HttpStatusCode.OK, generation.StatusCode);
        Assert.Equal(HttpStatusCode.OK, bob.StatusCode);
        _release.SetResult();
        (await held.WaitAsync(Bound)).Dispose();
    }

    [Fact]
    public async Task CountTokens_ClaudeCodeStartupBurstOfForty_QueuesWithinDefaultsAndAllSucceed()
    {
        var inFlight = 0;
        await using var upstream = await FakeUpstream.StartAsync(async (http, request) =>
        {
            Interlocked.Increment(ref inFlight);
            await _release.Task.WaitAsync(http.RequestAborted);
            await TeamGateway.AnswerAsync(http, request);
        });
        await using var gateway = await TeamGateway.StartAsync(upstream);
        var cap = new LimitsOptions().CountTokens.MaxConcurrentRequestsPerUser;
        var limiter = gateway.Service<UserConcurrencyLimiter>();

        var burst = Enumerable.Range(0, 40).Select(_ => gateway.Client.SendAsync(TeamGateway.Request("/v1/messages/count_tokens", TeamGateway.AliceKey))).ToList();

        // The defaults hold the burst in alice's queue, cap-many at a time, rather than refusing any of it.
        await Eventually.TrueAsync(() => limiter.UserStatistics("alice", UserLimitPolicy.CountTokens) is var (active, queued) && active == cap && queued == 40 - cap, Bound);
        Assert.True(Volatile.Read(ref inFlight) <= cap, $"{inFlight} of alice's count_tokens upstream at once, cap {cap}");
        _release.SetResult();
        foreach (var response in await Task.WhenAll(burst).WaitAsync(Bound))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
    }

    [Fact]
    public async Task Messages_CapOff_ManyConcurrentRequestsRun()
    {
        await using var gateway = await TeamGateway.StartAsync(_upstream, Limits(max: 0, queue: 0, seconds: 1));
        var held = Enumerable.Range(0, 3)
            .Select(_ => gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey, body: HeldMessages)))
            .ToList();

        await WaitForUpstreamRequestsAsync(3);
        _release.SetResult();
        foreach (var response in await Task.WhenAll(held).WaitAsync(Bound))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
    }
}
