using System.Net;
using System.Text.Json;
using LlamaGateway.Auth;
using LlamaGateway.Hosting;
using LlamaGateway.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace LlamaGateway.Tests.Auth;

public sealed class FailedKeyAttemptsTests
{
    private static readonly IPAddress Guesser = IPAddress.Parse("10.0.0.1");

    private static (FailedKeyAttempts Attempts, ManualTimeProvider Clock) Create(int max = 3, double windowSeconds = 60)
    {
        var clock = new ManualTimeProvider();
        var options = new GatewayOptions { Limits = new LimitsOptions { MaxFailedKeyAttempts = max, FailedKeyWindowSeconds = windowSeconds } };
        return (new FailedKeyAttempts(new StaticOptionsMonitor<GatewayOptions>(options), clock, NullLogger<FailedKeyAttempts>.Instance), clock);
    }

    [Fact]
    public void Fail_OverTheLimit_ReturnsTimeLeftInTheWindow()
    {
        var (attempts, clock) = Create(max: 3, windowSeconds: 60);

        Assert.Null(attempts.Fail(Guesser));
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Null(attempts.Fail(Guesser));
        Assert.Null(attempts.Fail(Guesser));
        var locked = attempts.Fail(Guesser);

        Assert.Equal(TimeSpan.FromSeconds(50), locked);
    }

    [Fact]
    public void Fail_WindowOver_CountsAfresh()
    {
        var (attempts, clock) = Create(max: 2, windowSeconds: 60);
        for (var i = 0; i < 5; i++)
        {
            attempts.Fail(Guesser);
        }

        clock.Advance(TimeSpan.FromSeconds(60));

        Assert.Null(attempts.Fail(Guesser));
        Assert.Null(attempts.Fail(Guesser));
        Assert.NotNull(attempts.Fail(Guesser));
    }

    [Fact]
    public void Fail_OtherAddress_HasItsOwnCountAndMappedIPv4IsTheSameAddress()
    {
        var (attempts, _) = Create(max: 1);
        Assert.Null(attempts.Fail(Guesser));
        Assert.NotNull(attempts.Fail(Guesser.MapToIPv6()));

        Assert.Null(attempts.Fail(IPAddress.Parse("10.0.0.2")));
        Assert.Null(attempts.Fail(IPAddress.IPv6Loopback));
        Assert.Null(attempts.Fail(null));
    }

    [Fact]
    public void Fail_LimitZero_NeverLimits()
    {
        var (attempts, _) = Create(max: 0);

        Assert.All(Enumerable.Range(0, 100), _ => Assert.Null(attempts.Fail(Guesser)));
    }

    [Fact]
    public void Fail_MoreAddressesThanTracked_ExtraAddressesShareOneWindowUntilOthersExpire()
    {
        var (attempts, clock) = Create(max: 2, windowSeconds: 60);
        for (var i = 0; i < FailedKeyAttempts.MaxTrackedAddresses; i++)
        {
            Assert.Null(attempts.Fail(new IPAddress(0x0A000000u + (uint)i)));
        }

        // Every tracked window is live: the newcomers count together.
        Assert.Null(attempts.Fail(IPAddress.Parse("192.168.1.1")));
        Assert.Null(attempts.Fail(IPAddress.Parse("192.168.1.2")));
        Assert.NotNull(attempts.Fail(IPAddress.Parse("192.168.1.3")));

        // Once the old windows have expired, a newcomer gets a window of its own again.
        clock.Advance(TimeSpan.FromSeconds(61));
        Assert.Null(attempts.Fail(IPAddress.Parse("192.168.1.4")));
        Assert.Null(attempts.Fail(IPAddress.Parse("192.168.1.4")));
        Assert.NotNull(attempts.Fail(IPAddress.Parse("192.168.1.4")));
        Assert.Null(attempts.Fail(IPAddress.Parse("192.168.1.5")));
    }

    private static Dictionary<string, string?> Limit(int max) => new()
    {
        ["Gateway:Limits:MaxFailedKeyAttempts"] = max.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Gateway:Limits:FailedKeyWindowSeconds"] = "60",
    };

    [Fact]
    public async Task WrongKeys_OverTheLimit_Get429InCallersDialectWhileValidKeysStillWork()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream, Limit(3), dialect: "openai");

        // Missing keys are not guesses: they neither count nor are ever refused with 429.
        for (var i = 0; i < 10; i++)
        {
            using var missing = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", key: null));
            Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        }

        for (var i = 0; i < 3; i++)
        {
            using var wrong = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", $"sk-guess-{i:D4}-abcdef"));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var anthropic = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", "sk-guess-0003-abcdef"));
        using var openAi = await gateway.Client.SendAsync(TeamGateway.Request("/v1/chat/completions", "sk-guess-0004-abcdef", bearer: true));
        using var stillMissing = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", key: null));
        using var alice = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey));
        using var bob = await gateway.Client.SendAsync(TeamGateway.Request("/v1/chat/completions", TeamGateway.BobKey, bearer: true));

        Assert.Equal(HttpStatusCode.TooManyRequests, anthropic.StatusCode);
        Assert.InRange(anthropic.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 60);
        using (var error = JsonDocument.Parse(await anthropic.Content.ReadAsStringAsync()))
        {
            Assert.Equal("error", error.RootElement.GetProperty("type").GetString());
            Assert.Equal("rate_limit_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
            Assert.Contains("MaxFailedKeyAttempts", error.RootElement.GetProperty("error").GetProperty("message").GetString());
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, openAi.StatusCode);
        Assert.NotNull(openAi.Headers.RetryAfter?.Delta);
        using (var error = JsonDocument.Parse(await openAi.Content.ReadAsStringAsync()))
        {
            Assert.Equal(429, error.RootElement.GetProperty("error").GetProperty("code").GetInt32());
            Assert.False(error.RootElement.TryGetProperty("type", out _));
        }

        Assert.Equal(HttpStatusCode.Unauthorized, stillMissing.StatusCode);
        Assert.Equal(HttpStatusCode.OK, alice.StatusCode);
        Assert.Equal(HttpStatusCode.OK, bob.StatusCode);
        Assert.Equal(2, upstream.Requests.Count);

        // One warning for the address, not one line per refused guess; no guessed key in any log line.
        var logs = gateway.Logs.All;
        Assert.Single(gateway.Logs.Lines, l => l.Contains("wrong API keys within 60 s", StringComparison.Ordinal));
        Assert.DoesNotContain("sk-guess-", logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongKeys_OnDashboardAndMetrics_CountTowardsTheSameLimit()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream, Limit(2));

        using var first = await gateway.Client.SendAsync(TeamGateway.Get("/metrics", "sk-admin-guess-0001"));
        using var second = await gateway.Client.SendAsync(TeamGateway.Get("/status.json", "sk-admin-guess-0002"));
        using var third = await gateway.Client.SendAsync(TeamGateway.Get("/metrics", "sk-admin-guess-0003"));
        using var model = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", "sk-admin-guess-0004"));
        using var admin = await gateway.Client.SendAsync(TeamGateway.Get("/metrics", TeamGateway.AdminKey));
        using var user = await gateway.Client.SendAsync(TeamGateway.Get("/status.json", TeamGateway.AliceKey));

        Assert.Equal(HttpStatusCode.Unauthorized, first.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, second.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.NotNull(third.Headers.RetryAfter?.Delta);
        Assert.Equal(HttpStatusCode.TooManyRequests, model.StatusCode);
        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        Assert.Equal(HttpStatusCode.OK, user.StatusCode);
    }

    [Fact]
    public async Task WrongKeys_LimitOff_AlwaysAnswered401()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream, Limit(0));

        for (var i = 0; i < 30; i++)
        {
            using var wrong = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", $"sk-guess-{i:D4}-abcdef"));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }
    }
}
