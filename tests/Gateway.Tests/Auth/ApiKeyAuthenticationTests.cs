using System.Net;
using System.Text.Json;
using LlamaGateway.Tests.Support;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Tests.Auth;

public sealed class ApiKeyAuthenticationTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("sk-not-a-gateway-key-123")]
    [InlineData(TeamGateway.AdminKey)]
    public async Task Messages_MissingWrongOrAdminKey_Returns401InAnthropicFormat(string? key)
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);

        using var response = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages?beta=true", key));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("error", error.RootElement.GetProperty("type").GetString());
        Assert.Equal("authentication_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData("/v1/chat/completions", null)]
    [InlineData("/v1/chat/completions", "sk-not-a-gateway-key-123")]
    [InlineData("/completion", null)]
    public async Task OpenAiRoutes_MissingOrWrongKey_Returns401InOpenAiFormat(string path, string? key)
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream, dialect: "openai");

        using var response = await gateway.Client.SendAsync(TeamGateway.Request(path, key, bearer: true));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var inner = error.RootElement.GetProperty("error");
        Assert.Equal("authentication_error", inner.GetProperty("type").GetString());
        Assert.Equal(401, inner.GetProperty("code").GetInt32());
        Assert.False(error.RootElement.TryGetProperty("type", out _));
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData(TeamGateway.AliceKey, false, "alice")]
    [InlineData(TeamGateway.AliceKey, true, "alice")]
    [InlineData(TeamGateway.BobKey, false, "bob")]
    [InlineData(TeamGateway.BobKey, true, "bob")]
    public async Task Messages_UserKeyInEitherHeader_Returns200AndAccountsToUser(string key, bool bearer, string user)
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);

        using var response = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages?beta=true", key, bearer));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(upstream.Requests);
        var ledger = gateway.Service<LlamaGateway.Usage.UsageLedger>();
        await TeamGateway.EventuallyAsync(() => ledger.Users.TryGetValue(user, out var counters) && counters.Requests == 1, $"{user}'s request to be accounted");
        Assert.False(ledger.Users.ContainsKey(LlamaGateway.Usage.UsageLedger.AnonymousUser));
    }

    [Fact]
    public async Task Requests_UserKey_NeverReachesUpstreamOrLogs()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream, new Dictionary<string, string?> { ["Gateway:Upstreams:0:ApiKey"] = "upstream-own-key-123" });

        foreach (var bearer in new[] { false, true })
        {
            using var ok = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey, bearer));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            using var counted = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages/count_tokens", TeamGateway.BobKey, bearer));
            Assert.Equal(HttpStatusCode.OK, counted.StatusCode);
        }

        using var wrong = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", "sk-attacker-guess-0001"));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        using var status = await gateway.Client.SendAsync(TeamGateway.Get("/status.json", TeamGateway.AdminKey));
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);

        Assert.Equal(4, upstream.Requests.Count);
        foreach (var sent in upstream.Requests)
        {
            Assert.Equal("Bearer upstream-own-key-123", sent.Headers["Authorization"]);
            Assert.False(sent.Headers.ContainsKey("x-api-key"));
            foreach (var secret in new[] { TeamGateway.AliceKey, TeamGateway.BobKey, TeamGateway.AdminKey })
            {
                Assert.DoesNotContain(sent.Headers, h => h.Value.Contains(secret, StringComparison.Ordinal));
                Assert.DoesNotContain(secret, sent.BodyText, StringComparison.Ordinal);
            }
        }

        // Each request's log line is written after its response: wait for all four before looking for keys.
        await TeamGateway.EventuallyAsync(() => gateway.Logs.Lines.Count(l => l.Contains(" -> fake ", StringComparison.Ordinal)) >= 4, "the request log lines");
        var logs = gateway.Logs.All;
        Assert.Contains("rejected with 401", logs);
        foreach (var secret in new[] { TeamGateway.AliceKey, TeamGateway.BobKey, TeamGateway.AdminKey, "sk-attacker-guess-0001", TeamGateway.Sha256Hex(TeamGateway.BobKey) })
        {
            Assert.DoesNotContain(secret, logs, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Theory]
    [InlineData("HEAD", "/")]
    [InlineData("HEAD", "/api/hello")]
    [InlineData("GET", "/healthz")]
    [InlineData("GET", "/status")]
    public async Task Probes_UsersConfigured_StayOpen(string method, string path)
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);

        using var response = await gateway.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Models_WithoutKey_Returns401()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);

        using var response = await gateway.Client.GetAsync("/v1/models");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task Start_UsersConfigured_LogsThatKeysAreRequired()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);

        Assert.Contains("API keys required: 2 user(s)", gateway.Logs.All);
        Assert.DoesNotContain("OPEN", gateway.Logs.All);
    }

    [Fact]
    public async Task Start_NoUsers_LogsOpenAndServesWithoutKey()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, dialect: "anthropic");

        using var response = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", key: null));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("the gateway is OPEN", gateway.Logs.All);
        var ledger = gateway.Service<LlamaGateway.Usage.UsageLedger>();
        await TeamGateway.EventuallyAsync(() => ledger.Users.TryGetValue(LlamaGateway.Usage.UsageLedger.AnonymousUser, out var counters) && counters.Requests == 1,
            "the anonymous request to be accounted");
    }

    [Fact]
    public async Task Start_KeyFromEnvironment_Authenticates()
    {
        var variable = "GATEWAY_TEST_KEY_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, "sk-dave-from-the-environment");
        try
        {
            await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
            await using var gateway = await TeamGateway.StartAsync(upstream, new Dictionary<string, string?>
            {
                ["Gateway:Users:2:Name"] = "dave",
                ["Gateway:Users:2:ApiKeyEnv"] = variable,
            });

            using var response = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", "sk-dave-from-the-environment", bearer: true));

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var ledger = gateway.Service<LlamaGateway.Usage.UsageLedger>();
            await TeamGateway.EventuallyAsync(() => ledger.Users.TryGetValue("dave", out var counters) && counters.Requests == 1, "dave's request to be accounted");
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task Start_DuplicateUserNames_FailsNamingTheKey()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => TeamGateway.StartAsync(upstream, new Dictionary<string, string?>
        {
            ["Gateway:Users:1:Name"] = "ALICE",
        }));

        Assert.Contains("Gateway:Users:1:Name", error.Message);
        Assert.DoesNotContain(TeamGateway.AliceKey, error.Message);
    }
}
