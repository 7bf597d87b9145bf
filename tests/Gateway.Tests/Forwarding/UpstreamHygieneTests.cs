using System.Net;
using System.Text;
using LlamaGateway.Tests.Reliability;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Forwarding;

/// <summary>
/// What reaches an upstream (its own Host, only allow-listed client headers) and what of its answer reaches the
/// caller (never a redirect or a page that is not JSON or an event stream).
/// </summary>
public sealed class UpstreamHygieneTests
{
    /// <summary>Headers a hostile (or merely chatty) client sends that must never reach an upstream.</summary>
    private static readonly (string Name, string Value)[] Hostile =
    [
        ("Cookie", "session=stolen"),
        ("api-key", "sk-client-api-key"),
        ("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"),
        ("X-Forwarded-For", "10.6.6.6"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "for=10.6.6.6;host=evil.example"),
        ("X-Real-IP", "10.6.6.6"),
        ("X-Claude-Code-Session-Id", "5b0f2d6e-session"),
        ("x-claude-code-agent-id", "agent-7"),
        ("baggage", "user=alice"),
        ("X-Custom-Secret", "do-not-forward"),
        ("Origin", "http://evil.example"),
        ("Referer", "http://evil.example/page"),
    ];

    public static TheoryData<string, string> Routes() => new()
    {
        { "/v1/messages", "openai" },
        { "/v1/messages", "anthropic" },
        { "/v1/messages/count_tokens", "openai" },
        { "/v1/messages/count_tokens", "anthropic" },
        { "/v1/chat/completions", "openai" },
        { "/completion", "openai" },
        { "/v1/models", "openai" },
    };

    private static HttpRequestMessage HostileRequest(string route)
    {
        var request = route == "/v1/models"
            ? new HttpRequestMessage(HttpMethod.Get, route)
            : new HttpRequestMessage(HttpMethod.Post, route)
            {
                Content = new StringContent(route switch
                {
                    "/v1/chat/completions" => """{"model":"m","messages":[{"role":"user","content":"hi"}]}""",
                    "/completion" => """{"prompt":"hi","n_predict":4}""",
                    "/v1/messages/count_tokens" => """{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}""",
                    _ => """{"model":"claude-x","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}""",
                }, Encoding.UTF8, "application/json"),
            };
        request.Headers.Host = "evil.example:6666";
        request.Headers.TryAddWithoutValidation("x-api-key", "sk-client-x-api-key");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer sk-client-bearer");
        request.Headers.TryAddWithoutValidation("User-Agent", "claude-cli/2.1.328 (external, cli)");
        request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        request.Headers.TryAddWithoutValidation("anthropic-beta", "prompt-caching-2024-07-31,interleaved-thinking-2025-05-14");
        request.Headers.TryAddWithoutValidation("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        request.Headers.TryAddWithoutValidation("tracestate", "vendor=value");
        request.Headers.TryAddWithoutValidation("Accept", "application/json");
        foreach (var (name, value) in Hostile)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    private static async Task AnswerAsync(HttpContext http, RecordedRequest request)
    {
        http.Response.ContentType = "application/json";
        var path = request.Path.Split('?')[0];
        await http.Response.WriteAsync(path switch
        {
            "/v1/messages/count_tokens" => """{"input_tokens":3}""",
            "/v1/messages" => """{"id":"m","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}""",
            "/completion" => """{"content":"hi","stop":true,"tokens_predicted":1,"tokens_evaluated":2}""",
            "/v1/models" => """{"object":"list","data":[{"id":"m","object":"model"}]}""",
            _ => """{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}""",
        });
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Request_ClientSendsHostAndForeignHeaders_UpstreamGetsItsOwnHostAndOnlyTheAllowList(string route, string dialect)
    {
        await using var upstream = await FakeUpstream.StartAsync(AnswerAsync);
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:ApiKey"] = "sk-upstream-own-key",
        }, dialect);

        using var response = await gateway.Client.SendAsync(HostileRequest(route));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Assert.Single(upstream.Requests, r => !r.Path.StartsWith("/health", StringComparison.Ordinal) && !r.Path.StartsWith("/props", StringComparison.Ordinal));
        Assert.Equal(new Uri(upstream.BaseUrl).Authority, sent.Headers["Host"]);
        Assert.Equal("Bearer sk-upstream-own-key", sent.Headers["Authorization"]);
        Assert.Equal("llama-gateway", sent.Headers["User-Agent"]);
        Assert.False(sent.Headers.ContainsKey("x-api-key"));
        foreach (var (name, _) in Hostile)
        {
            Assert.False(sent.Headers.ContainsKey(name), $"{name} reached the upstream");
        }

        // Only the documented list: the gateway's own headers, the client's Accept and trace context, and the
        // anthropic-* headers where the upstream speaks the Anthropic dialect.
        var anthropicUpstream = route is "/v1/messages/count_tokens" || (route == "/v1/messages" && dialect == "anthropic") || (route == "/v1/models" && dialect == "anthropic");
        string[] allowed = ["Host", "Authorization", "User-Agent", "Content-Type", "Content-Length", "Accept", "traceparent", "tracestate", "Connection", "Transfer-Encoding",
            .. anthropicUpstream ? new[] { "anthropic-version", "anthropic-beta" } : []];
        Assert.All(sent.Headers.Keys, name => Assert.Contains(name, allowed, StringComparer.OrdinalIgnoreCase));
        Assert.Equal(anthropicUpstream, sent.Headers.ContainsKey("anthropic-beta"));
        if (anthropicUpstream)
        {
            Assert.Equal("prompt-caching-2024-07-31,interleaved-thinking-2025-05-14", sent.Headers["anthropic-beta"]);
        }

        Assert.Equal("00-4bf92f3577b34da6a3ce929d0e0e4736", sent.Headers["traceparent"][..35]);
    }

    [Fact]
    public async Task Request_NoUpstreamKeyConfigured_NoAuthorizationReachesTheUpstream()
    {
        await using var upstream = await FakeUpstream.StartAsync(AnswerAsync);
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl);

        using var response = await gateway.Client.SendAsync(HostileRequest("/v1/chat/completions"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(upstream.Requests, r => r.Headers.ContainsKey("Authorization") || r.Headers.ContainsKey("Cookie"));
    }

    /// <summary>Answers that are not llama-server speaking.</summary>
    public static TheoryData<StreamPath, string> NonApiAnswers()
    {
        var data = new TheoryData<StreamPath, string>();
        foreach (var path in Enum.GetValues<StreamPath>())
        {
            foreach (var answer in new[] { "html", "redirect", "permanent-redirect", "no-content-type", "plain-text", "no-content" })
            {
                data.Add(path, answer);
            }
        }

        return data;
    }

    private static async Task WriteNonApiAnswerAsync(HttpContext http, string answer)
    {
        switch (answer)
        {
            case "html":
                http.Response.ContentType = "text/html; charset=utf-8";
                await http.Response.WriteAsync("<html><body><form action=/login>Sign in to the proxy</form></body></html>");
                break;
            case "redirect":
                http.Response.StatusCode = StatusCodes.Status302Found;
                http.Response.Headers.Location = "http://login.example/?next=/v1/chat/completions";
                break;
            case "permanent-redirect":
                http.Response.StatusCode = StatusCodes.Status308PermanentRedirect;
                http.Response.Headers.Location = "https://elsewhere.example/";
                break;
            case "no-content-type":
                await http.Response.WriteAsync("""{"choices":[]}""");
                break;
            case "plain-text":
                http.Response.ContentType = "text/plain";
                await http.Response.WriteAsync("OK");
                break;
            default:
                http.Response.StatusCode = StatusCodes.Status204NoContent;
                break;
        }
    }

    [Theory]
    [MemberData(nameof(NonApiAnswers))]
    public async Task Request_UpstreamAnswersWithAPageOrARedirect_502InTheCallersDialect(StreamPath path, string answer)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => WriteNonApiAnswerAsync(http, answer));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?>
        {
            ["Gateway:Health:FailureThreshold"] = "100",
            ["Gateway:Health:IntervalSeconds"] = "600",
            ["Gateway:Health:UnhealthyIntervalSeconds"] = "600",
        }, Traffic.UpstreamDialect(path));

        // A probe resets the instance's failures: the start-up one must be over before the count is checked.
        await gateway.WaitForStartupProbeAsync();
        var instance = gateway.Service<UpstreamRegistry>().Instances[0];

        foreach (var stream in new[] { false, true })
        {
            using var response = await gateway.Client.SendAsync(Traffic.Request(path, stream));

            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.Null(response.Headers.Location);
            Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString());
            var (type, message) = await Traffic.ErrorBodyAsync(response, Traffic.ClientIsAnthropic(path));
            Assert.Equal(Traffic.ClientIsAnthropic(path) ? "api_error" : "server_error", type);
            Assert.Contains("'fake'", message);
            Assert.Contains(answer.Contains("redirect", StringComparison.Ordinal) ? "redirect" : "instead of JSON or an event stream", message);
            Assert.DoesNotContain("login.example", message);
        }

        // Not llama-server answering: that counts against the instance.
        Assert.Equal(2, instance.ConsecutiveFailures);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Theory]
    [InlineData("html")]
    [InlineData("redirect")]
    public async Task Models_UpstreamAnswersWithAPageOrARedirect_502(string answer)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => WriteNonApiAnswerAsync(http, answer));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl);

        using var response = await gateway.Client.GetAsync("/v1/models");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Null(response.Headers.Location);
        var (_, message) = await Traffic.ErrorBodyAsync(response, anthropic: false);
        Assert.Contains("'fake'", message);
    }
}
