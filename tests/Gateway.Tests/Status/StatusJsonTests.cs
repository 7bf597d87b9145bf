using System.Net;
using System.Text.Json;
using LlamaGateway.Tests.Auth;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Status;

public sealed class StatusJsonTests
{
    private static readonly JsonSchemaValidator Schema = JsonSchemaValidator.Load(RepositoryFiles.Path("docs/status-schema.json"));

    private static async Task<JsonDocument> GetStatusAsync(GatewayHost gateway, string? key)
    {
        using var response = await gateway.Client.SendAsync(TeamGateway.Get("/status.json", key));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }

    private static void AssertValid(JsonDocument document)
    {
        var errors = Schema.Validate(document.RootElement);
        Assert.True(errors.Count == 0, "status.json does not match docs/status-schema.json:\n" + string.Join('\n', errors));
    }

    /// <summary>Traffic from alice and bob: successes on three routes, an upstream failure, a 401.</summary>
    private static async Task SendTrafficAsync(GatewayHost gateway)
    {
        foreach (var (path, key) in new[] { ("/v1/messages", TeamGateway.AliceKey), ("/v1/messages", TeamGateway.AliceKey), ("/v1/messages/count_tokens", TeamGateway.AliceKey), ("/v1/messages", TeamGateway.BobKey) })
        {
            using var ok = await gateway.Client.SendAsync(TeamGateway.Request(path, key));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var failed = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.BobKey, body: TeamGateway.FailingMessagesBody));
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        using var refused = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", "sk-wrong-key-00000"));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        var ledger = gateway.Service<LlamaGateway.Usage.UsageLedger>();
        await TeamGateway.EventuallyAsync(() => ledger.Totals.Requests == 5, "five requests to be accounted");
    }

    [Fact]
    public async Task StatusJson_AdminAfterTraffic_MatchesSchemaAndShowsEverything()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);
        await SendTrafficAsync(gateway);

        using var status = await GetStatusAsync(gateway, TeamGateway.AdminKey);

        AssertValid(status);
        var root = status.RootElement;
        Assert.False(root.GetProperty("open").GetBoolean());
        Assert.True(root.GetProperty("viewer").GetProperty("full").GetBoolean());
        Assert.Equal(5, root.GetProperty("totals").GetProperty("requests").GetInt64());
        Assert.Equal(1, root.GetProperty("totals").GetProperty("failures").GetInt64());
        var instance = Assert.Single(root.GetProperty("instances").EnumerateArray());
        Assert.Equal("fake", instance.GetProperty("name").GetString());
        Assert.True(instance.GetProperty("healthy").GetBoolean());
        Assert.Equal(4, instance.GetProperty("slots").GetArrayLength());
        Assert.Equal(["alice", "bob"], root.GetProperty("users").EnumerateArray().Select(u => u.GetProperty("name").GetString()!).ToArray());
        Assert.Equal(3, root.GetProperty("users")[0].GetProperty("requests").GetInt64());
        var error = Assert.Single(root.GetProperty("recentErrors").EnumerateArray());
        Assert.Equal("bob", error.GetProperty("user").GetString());
        Assert.Equal(500, error.GetProperty("status").GetInt32());
        Assert.Equal("fake", error.GetProperty("upstream").GetString());
        Assert.Equal(5, root.GetProperty("series").GetProperty("current").GetProperty("requests").GetInt64());
    }

    [Fact]
    public async Task StatusJson_UserKey_ShowsOwnRowsAndAggregatesOnly()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);
        await SendTrafficAsync(gateway);

        using var status = await GetStatusAsync(gateway, TeamGateway.AliceKey);

        AssertValid(status);
        var root = status.RootElement;
        Assert.False(root.GetProperty("viewer").GetProperty("full").GetBoolean());
        Assert.Equal("alice", root.GetProperty("viewer").GetProperty("user").GetString());
        Assert.Equal("alice", Assert.Single(root.GetProperty("users").EnumerateArray()).GetProperty("name").GetString());
        Assert.Empty(root.GetProperty("recentErrors").EnumerateArray());
        Assert.Equal(5, root.GetProperty("totals").GetProperty("requests").GetInt64());
        foreach (var slot in root.GetProperty("instances")[0].GetProperty("slots").EnumerateArray())
        {
            var user = slot.GetProperty("user").GetString();
            Assert.True(user is null or "alice" or "(other)", $"slot user {user}");
        }

        Assert.DoesNotContain("bob", root.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatusJson_OpenGateway_NeedsNoKeyAndSaysOpen()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, dialect: "anthropic");
        using (var ok = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", key: null)))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        await TeamGateway.EventuallyAsync(() => gateway.Service<LlamaGateway.Usage.UsageLedger>().Totals.Requests == 1, "the request to be accounted");
        using var status = await GetStatusAsync(gateway, key: null);

        AssertValid(status);
        Assert.True(status.RootElement.GetProperty("open").GetBoolean());
        Assert.True(status.RootElement.GetProperty("viewer").GetProperty("full").GetBoolean());
        Assert.Equal("(anonymous)", Assert.Single(status.RootElement.GetProperty("users").EnumerateArray()).GetProperty("name").GetString());
    }

    [Fact]
    public async Task StatusJson_OnlyAdminKeyConfigured_ApiOpenButStatusNeedsTheKey()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?> { ["Gateway:AdminApiKey"] = TeamGateway.AdminKey }, "anthropic");

        using var api = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", key: null));
        using var anonymous = await gateway.Client.SendAsync(TeamGateway.Get("/status.json", key: null));
        using var admin = await GetStatusAsync(gateway, TeamGateway.AdminKey);

        Assert.Equal(HttpStatusCode.OK, api.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        AssertValid(admin);
        Assert.True(admin.RootElement.GetProperty("open").GetBoolean());
        Assert.Equal("(admin)", admin.RootElement.GetProperty("viewer").GetProperty("user").GetString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("sk-wrong-key-00000")]
    public async Task StatusJson_UsersConfiguredWithoutValidKey_Returns401(string? key)
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);

        using var response = await gateway.Client.SendAsync(TeamGateway.Get("/status.json", key));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("authentication_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public async Task StatusJson_KeyInQueryString_IsNotAccepted()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);

        // A query string lands in request logs; only headers carry keys.
        using var response = await gateway.Client.GetAsync("/status.json?key=" + TeamGateway.AdminKey);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task StatusPage_IsSelfContainedHtmlWithStrictPolicy()
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream);

        using var response = await gateway.Client.GetAsync("/status");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var policy = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'none'", policy);
        Assert.Contains("connect-src 'self'", policy);
        Assert.DoesNotContain("unsafe-inline", policy);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("<svg id=\"chart\"", html);
        Assert.Contains("status.json", html);
        foreach (var external in new[] { "src=\"http", "href=\"http", "@import", "url(", "<script src", "<link rel=\"stylesheet\"" })
        {
            Assert.DoesNotContain(external, html, StringComparison.OrdinalIgnoreCase);
        }
    }
}
