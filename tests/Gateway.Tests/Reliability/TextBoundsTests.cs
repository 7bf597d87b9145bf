using System.Net;
using System.Text;
using System.Text.Json;
using LlamaGateway.Errors;
using LlamaGateway.Tests.Auth;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// Text the gateway did not choose, 8 MB of it, from a client or an upstream, never reaches an error body, a log line,
/// an instance's LastError, the recent-errors list or /status.json in full.
/// </summary>
public sealed class TextBoundsTests
{
    private const int Huge = 8 * 1024 * 1024;

    /// <summary>Generous bounds for what may hold bounded foreign text: a message is at most 2,048 characters.</summary>
    private const int MaxBodyBytes = 16 * 1024;

    private const int MaxLogLineChars = 16 * 1024;

    private static Dictionary<string, string?> Settings(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Health:FailureThreshold"] = "1",
            ["Gateway:Health:IntervalSeconds"] = "600",
            ["Gateway:Health:UnhealthyIntervalSeconds"] = "600",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    private static void AssertBounded(GatewayHost gateway, string marker)
    {
        foreach (var line in gateway.Logs.Lines.Where(l => l.Length >= MaxLogLineChars))
        {
            Assert.Fail($"a log line of {line.Length:N0} characters: {line[..400]}");
        }

        var instance = gateway.Service<UpstreamRegistry>().Instances[0];
        Assert.True((instance.LastError?.Length ?? 0) <= BoundedText.MaxMessageChars + 100, $"LastError of {instance.LastError?.Length:N0} characters");
        Assert.True((instance.PublicError?.Length ?? 0) <= BoundedText.MaxMessageChars + 100);
        Assert.All(gateway.Service<Usage.RecentErrors>().Snapshot(), e => Assert.True(e.Message.Length <= BoundedText.MaxMessageChars + 100, $"a recent error of {e.Message.Length:N0} characters"));
        Assert.Contains(marker, gateway.Logs.All);
    }

    [Theory]
    [InlineData(500, "server trouble ")]
    [InlineData(500, "Failed to parse tools: Missing tool function; tools = ")]
    [InlineData(400, "Expected 'content' to be a string ")]
    public async Task Request_UpstreamErrorMessageOf8MB_BoundedInTheBodyLogLastErrorAndStatus(int status, string start)
    {
        var message = start + new string('x', Huge);
        var body = JsonSerializer.Serialize(new { error = new { code = status, message, type = "server_error" } });
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            http.Response.StatusCode = status;
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(body);
        });

        foreach (var path in Enum.GetValues<StreamPath>())
        {
            await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(), Traffic.UpstreamDialect(path));
            await gateway.WaitForStartupProbeAsync();

            using var response = await gateway.Client.SendAsync(Traffic.Request(path, stream: false));

            var bytes = await response.Content.ReadAsByteArrayAsync();
            Assert.True(bytes.Length < MaxBodyBytes, $"{path}: a body of {bytes.Length:N0} bytes");
            var (_, text) = await Traffic.ErrorBodyAsync(response, Traffic.ClientIsAnthropic(path));
            Assert.Contains(start + "xxxxxxxx", text);
            Assert.Contains("truncated by the gateway", text);
            await Leaks.AssertNoneAsync(gateway);
            AssertBounded(gateway, "truncated by the gateway");

            using var statusJson = await gateway.Client.GetAsync("/status.json");
            var document = await statusJson.Content.ReadAsByteArrayAsync();
            Assert.True(document.Length < 64 * 1024, $"{path}: /status.json of {document.Length:N0} bytes");
        }
    }

    [Theory]
    [InlineData("/v1/messages")]
    [InlineData("/v1/chat/completions")]
    public async Task Request_ClientPropertyNameOf8MB_BoundedInTheBodyLogAndRecentErrors(string route)
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var gateway = await TeamGateway.StartAsync(upstream, Settings(), dialect: "openai");
        await gateway.WaitForStartupProbeAsync();
        var name = "n" + new string('N', Huge);

        // A duplicate key: the shape check names it in its error.
        var body = $$"""{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"{{name}}":1,"{{name}}":2}""";
        for (var i = 0; i < 5; i++)
        {
            using var response = await gateway.Client.SendAsync(TeamGateway.Request(route, TeamGateway.AliceKey, body: body));

            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var bytes = await response.Content.ReadAsByteArrayAsync();
            Assert.True(bytes.Length < MaxBodyBytes, $"a body of {bytes.Length:N0} bytes");
            Assert.Contains("NNNN", Encoding.UTF8.GetString(bytes));
        }

        await TeamGateway.EventuallyAsync(() => gateway.Service<Usage.RecentErrors>().Total == 5, "the five failures to be listed");
        AssertBounded(gateway, "NNNN");
        using var status = await gateway.Client.SendAsync(TeamGateway.Get("/status.json", TeamGateway.AdminKey));
        var document = await status.Content.ReadAsByteArrayAsync();
        Assert.True(document.Length < 64 * 1024, $"/status.json of {document.Length:N0} bytes");
        Assert.Empty(upstream.Requests);
    }
}
