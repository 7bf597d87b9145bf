using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.Tests.Reliability;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Functional;

/// <summary>
/// The fields the gateway owns (docs/fields.md), end to end through the real gateway: what the fake upstream receives
/// is the gateway's value whatever the client sent, and what the gateway refuses gets a 400 in the caller's dialect
/// naming the field, with nothing forwarded.
/// </summary>
public sealed class OwnedFieldsTests
{
    private const int Cap = 1000;
    private const int FakeSlots = 4;

    public static TheoryData<string> OpenAiPaths() => new() { "/v1/chat/completions", "/completion" };

    [Theory]
    [MemberData(nameof(OpenAiPaths))]
    public async Task PassThrough_HostileOwnedFields_UpstreamGetsTheGatewaysValues(string path)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        upstream.TotalSlots = FakeSlots;
        await using var gateway = await StartAsync(upstream);
        var completion = path == "/completion";
        var body = (completion ? """{"prompt":"hello","n_predict":null,""" : """{"model":"m","messages":[{"role":"user","content":"hello"}],""")
            + """ "id_slot":99,"cache\u005fprompt":false,"max_completion_tokens":1e9,"max_tokens":5,"n":1,"n_probs":1000,"return_progress":true,"response_fields":["content"],"backend_sampling":true,"lora":[],"temperature":0.3,"x-unknown":{"kept":true}}""";

        var sent = await SendAsync(gateway, path, body);

        Assert.Equal(HttpStatusCode.OK, sent.Status);
        var received = JsonNode.Parse(Assert.Single(upstream.Requests).BodyText)!.AsObject();
        var limit = completion ? "n_predict" : "max_tokens";
        Assert.Equal(Cap, received[limit]!.GetValue<int>());
        Assert.InRange(received["id_slot"]!.GetValue<int>(), 0, FakeSlots - 1);
        Assert.True(received["cache_prompt"]!.GetValue<bool>());
        Assert.Equal(20, received["n_probs"]!.GetValue<int>());
        Assert.Equal(0.3, received["temperature"]!.GetValue<double>());
        Assert.True(received["x-unknown"]!["kept"]!.GetValue<bool>());
        foreach (var gone in new[] { "max_completion_tokens", completion ? "max_tokens" : "n_predict", "n", "return_progress", "response_fields", "backend_sampling", "lora" })
        {
            Assert.False(received.ContainsKey(gone), $"{gone} reached the upstream: {received.ToJsonString()}");
        }
    }

    /// <summary>The case found on the real llama-server: 4,095 tokens generated with MaxOutputTokens 1000.</summary>
    [Theory]
    [InlineData("max_completion_tokens", "1e9")]
    [InlineData("max_completion_tokens", "1000000000.0")]
    [InlineData("n_predict", "-1")]
    [InlineData("max_tokens", "99999999999999999999")]
    [InlineData("n_predict", "1E+30")]
    public async Task Completion_LimitInAnySpellingAndForm_ClampedToMaxOutputTokens(string field, string raw)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await StartAsync(upstream);

        var sent = await SendAsync(gateway, "/completion", $$"""{"prompt":"hello","{{field}}":{{raw}}}""");

        Assert.Equal(HttpStatusCode.OK, sent.Status);
        var received = JsonNode.Parse(Assert.Single(upstream.Requests).BodyText)!.AsObject();
        Assert.Equal(Cap, received["n_predict"]!.GetValue<int>());
        Assert.False(received.ContainsKey("max_completion_tokens") || received.ContainsKey("max_tokens"));
    }

    [Theory]
    [InlineData("128000", Cap)]
    [InlineData("1e9", Cap)]
    [InlineData("12.0", 12)]
    [InlineData("1E2", 100)]
    public async Task Messages_MaxTokensInAnyForm_ClampedOnBothUpstreamDialects(string raw, int expected)
    {
        foreach (var dialect in new[] { "openai", "anthropic" })
        {
            var path = dialect == "anthropic" ? StreamPath.AnthropicPassThrough : StreamPath.OpenAiPassThrough;
            await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, path));
            await using var gateway = await StartAsync(upstream, dialect);

            var sent = await SendAsync(gateway, "/v1/messages", $$"""{"model":"m","max_tokens":{{raw}},"n":4,"id_slot":99,"messages":[{"role":"user","content":"hello"}]}""");

            Assert.Equal(HttpStatusCode.OK, sent.Status);
            var received = JsonNode.Parse(Assert.Single(upstream.Requests).BodyText)!.AsObject();
            Assert.Equal(expected, received["max_tokens"]!.GetValue<double>());
            if (dialect == "openai")
            {
                // Translated: only what the translator writes reaches llama-server's chat completions.
                Assert.False(received.ContainsKey("n"));
                Assert.InRange(received["id_slot"]!.GetValue<int>(), 0, FakeSlots - 1);
            }
        }
    }

    [Fact]
    public async Task Messages_AnthropicPassThroughWithoutMaxTokens_CapAdded()
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.AnthropicPassThrough));
        await using var gateway = await StartAsync(upstream, "anthropic");

        var sent = await SendAsync(gateway, "/v1/messages", """{"model":"m","messages":[{"role":"user","content":"hello"}]}""");

        Assert.Equal(HttpStatusCode.OK, sent.Status);
        var received = JsonNode.Parse(Assert.Single(upstream.Requests).BodyText)!.AsObject();
        Assert.Equal(Cap, received["max_tokens"]!.GetValue<int>());
        Assert.Equal("hello", received["messages"]![0]!["content"]!.GetValue<string>());
    }

    /// <summary>What the gateway refuses: each gets a 400 naming the field, and nothing goes upstream.</summary>
    [Theory]
    [InlineData("/v1/chat/completions", "\"n\":4", "n must be 1")]
    [InlineData("/completion", "\"n\":4", "n must be 1")]
    [InlineData("/v1/chat/completions", "\"n_cmpl\":4", "n_cmpl must be 1")]
    [InlineData("/completion", "\"\\u006e_cmpl\":2", "n_cmpl must be 1")]
    [InlineData("/completion", "\"lora\":[{\"id\":0,\"scale\":1}]", "lora is not available")]
    [InlineData("/completion", "\"prompt2\":0,\"prompt\":[\"a\",\"b\"]", "prompt must be one prompt")]
    [InlineData("/v1/chat/completions", "\"temperature\":1e999", "temperature is out of range")]
    [InlineData("/completion", "\"temperature\":-1e999", "temperature is out of range")]
    [InlineData("/v1/messages", "\"temperature\":1e999", "temperature is out of range")]
    [InlineData("/v1/chat/completions", "\"tools\":\"x\"", "tools must be an array")]
    [InlineData("/v1/messages", "\"tools\":\"x\"", "tools must be an array")]
    [InlineData("/v1/chat/completions", "\"temperature\":\"hot\"", "temperature must be a number")]
    [InlineData("/v1/messages", "\"temperature\":\"hot\"", "temperature must be a number")]
    [InlineData("/completion", "\"stream\":\"yes\"", "stream must be true or false")]
    [InlineData("/v1/messages", "\"stream\":\"yes\"", "stream must be true or false")]
    [InlineData("/v1/chat/completions", "\"max_completion_tokens\":\"1000\"", "max_completion_tokens must be an integer")]
    [InlineData("/v1/chat/completions", "\"top_k\":1e12", "top_k must be between")]
    public async Task Request_FieldTheGatewayRefuses_400InTheCallersDialectNamingIt(string path, string member, string expected)
    {
        foreach (var dialect in path == "/v1/messages" ? new[] { "openai", "anthropic" } : ["openai"])
        {
            await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
            await using var gateway = await StartAsync(upstream, dialect);
            var body = path switch
            {
                "/completion" when member.Contains("\"prompt\":", StringComparison.Ordinal) => "{" + member + "}",
                "/completion" => """{"prompt":"hello",""" + member + "}",
                "/v1/messages" => """{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hello"}],""" + member + "}",
                _ => """{"model":"m","messages":[{"role":"user","content":"hello"}],""" + member + "}",
            };

            var sent = await SendAsync(gateway, path, body);

            Assert.Equal(HttpStatusCode.BadRequest, sent.Status);
            using var json = JsonDocument.Parse(sent.Body);
            var error = json.RootElement.GetProperty("error");
            Assert.Contains(expected, error.GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
            if (path == "/v1/messages")
            {
                Assert.Equal("error", json.RootElement.GetProperty("type").GetString());
                Assert.Equal("false", sent.ShouldRetry);
            }
            else
            {
                Assert.True(error.TryGetProperty("code", out _));
            }

            Assert.Empty(upstream.Requests);
            await Leaks.AssertNoneAsync(gateway);
        }
    }

    private static Task<GatewayHost> StartAsync(FakeUpstream upstream, string dialect = "openai") =>
        GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:MaxOutputTokens"] = Cap.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gateway:Upstreams:0:Slots"] = FakeSlots.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, dialect);

    private static async Task<(HttpStatusCode Status, string Body, string? ShouldRetry)> SendAsync(GatewayHost gateway, string path, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var response = await gateway.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var retry = response.Headers.TryGetValues("x-should-retry", out var values) ? values.First() : null;
        return (response.StatusCode, text, retry);
    }
}
