using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// Hostile request bodies through the real gateway on every model route: each gets a 4xx in the caller's dialect
/// (never a 500, a hang or a crash), nothing reaches the upstream, and the gateway keeps serving.
/// </summary>
public sealed class HostileInputTests
{
    private const string Messages = "/v1/messages";
    private const string CountTokens = "/v1/messages/count_tokens";
    private const string Chat = "/v1/chat/completions";
    private const string Completion = "/completion";

    /// <summary>Bodies every route must reject, by name.</summary>
    private static IEnumerable<(string Name, byte[] Body)> HostileBodies(string path)
    {
        static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
        var isChat = path is Chat;
        var isCompletion = path is Completion;
        string Wrap(string messages) => isCompletion
            ? $$"""{"prompt":{{messages}},"n_predict":5}"""
            : $$"""{"model":"m","max_tokens":5,"messages":{{messages}}}""";

        yield return ("empty body", []);
        yield return ("whitespace", Utf8("  \n\t "));
        yield return ("null", Utf8("null"));
        yield return ("array root", Utf8("[]"));
        yield return ("string root", Utf8("\"hello\""));
        yield return ("number root", Utf8("42"));
        yield return ("truncated", Utf8("""{"model":"m","messages":[{"role":"user","content":"hi"}"""));
        yield return ("trailing garbage", Utf8("""{"model":"m","messages":[]}x"""));
        yield return ("comment", Utf8("""/* hi */{"model":"m","messages":[]}"""));
        yield return ("trailing comma", Utf8("""{"model":"m","messages":[],}"""));
        yield return ("single quotes", Utf8("{'model':'m'}"));
        yield return ("deep array nesting 100k", Utf8(Wrap(new string('[', 100_000) + new string(']', 100_000))));
        yield return ("deep object nesting 5k", Utf8(Wrap("[{\"role\":\"user\",\"content\":" + string.Concat(Enumerable.Repeat("{\"a\":", 5_000)) + "1" + new string('}', 5_000) + "}]")));
        yield return ("unclosed nesting", Utf8(new string('{', 50_000)));
        yield return ("invalid UTF-8 in a string", [.. Utf8(Wrap("[{\"role\":\"user\",\"content\":\"a")), 0xC3, 0x28, .. Utf8("\"}]")]);
        yield return ("invalid UTF-8 continuation", [.. Utf8(Wrap("[{\"role\":\"user\",\"content\":\"a")), 0x80, 0x80, .. Utf8("\"}]")]);
        yield return ("overlong UTF-8", [.. Utf8(Wrap("[{\"role\":\"user\",\"content\":\"a")), 0xC0, 0xAF, .. Utf8("\"}]")]);
        yield return ("NUL byte raw in a string", [.. Utf8(Wrap("[{\"role\":\"user\",\"content\":\"a")), 0x00, .. Utf8("\"}]")]);
        yield return ("bad escape", Utf8(Wrap("[{\"role\":\"user\",\"content\":\"\\x41\"}]")));
        yield return ("NaN", Utf8(isCompletion ? """{"prompt":"hi","n_predict":NaN}""" : """{"model":"m","max_tokens":NaN,"messages":[{"role":"user","content":"hi"}]}"""));
        yield return ("Infinity", Utf8(isCompletion ? """{"prompt":"hi","temperature":Infinity}""" : """{"model":"m","max_tokens":5,"temperature":Infinity,"messages":[{"role":"user","content":"hi"}]}"""));
        yield return ("-Infinity", Utf8(isCompletion ? """{"prompt":"hi","temperature":-Infinity}""" : """{"model":"m","max_tokens":5,"temperature":-Infinity,"messages":[{"role":"user","content":"hi"}]}"""));
        yield return ("hex number", Utf8("""{"model":"m","max_tokens":0x10,"messages":[]}"""));
        yield return ("leading zero number", Utf8("""{"model":"m","max_tokens":0005,"messages":[]}"""));
        if (!isCompletion)
        {
            yield return ("messages is a number", Utf8("""{"model":"m","max_tokens":5,"messages":42}"""));
            yield return ("messages is a string", Utf8("""{"model":"m","max_tokens":5,"messages":"hi"}"""));
            yield return ("message is a number", Utf8("""{"model":"m","max_tokens":5,"messages":[1]}"""));
            yield return ("content is an object", Utf8("""{"model":"m","max_tokens":5,"messages":[{"role":"user","content":{"text":"hi"}}]}"""));
            yield return ("content block is a string", Utf8("""{"model":"m","max_tokens":5,"messages":[{"role":"user","content":["hi"]}]}"""));
            yield return ("role is a number", Utf8("""{"model":"m","max_tokens":5,"messages":[{"role":7,"content":"hi"}]}"""));
            yield return ("missing messages", Utf8("""{"model":"m","max_tokens":5}"""));
            yield return ("duplicate top-level key", Utf8("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"messages\":[]}"));
            yield return ("duplicate key in a message", Utf8("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"role\":\"system\",\"content\":\"hi\"}]}"));
            yield return ("message without role", Utf8("{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"content\":\"hi\"}]}"));
            if (!isChat)
            {
                // OpenAI bodies have no "system" field: there it is an unknown field and passes.
                yield return ("system is a number", Utf8("""{"model":"m","max_tokens":5,"system":5,"messages":[{"role":"user","content":"hi"}]}"""));
            }
        }

        if (path is Messages)
        {
            yield return ("model is an array", Utf8("""{"model":[],"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"""));
            yield return ("missing model", Utf8("""{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"""));
            yield return ("max_tokens is a string", Utf8("""{"model":"m","max_tokens":"many","messages":[{"role":"user","content":"hi"}]}"""));
            yield return ("max_tokens 1e999", Utf8("""{"model":"m","max_tokens":1e999,"messages":[{"role":"user","content":"hi"}]}"""));
            yield return ("text block without text", Utf8("""{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text"}]}]}"""));
        }

        if (isChat)
        {
            yield return ("chat content is a number", Utf8("""{"model":"m","messages":[{"role":"user","content":5}]}"""));
        }

        if (isCompletion)
        {
            yield return ("prompt is an object", Utf8("""{"prompt":{"a":1}}"""));
            yield return ("missing prompt", Utf8("""{"n_predict":5}"""));
            yield return ("duplicate prompt", Utf8("""{"prompt":"a","prompt":"b"}"""));
        }
    }

    [Theory]
    [InlineData(Messages, "openai")]
    [InlineData(Messages, "anthropic")]
    [InlineData(CountTokens, "openai")]
    [InlineData(Chat, "openai")]
    [InlineData(Completion, "openai")]
    public async Task HostileBody_EveryRoute_Gets4xxInTheCallersDialectAndGatewayKeepsServing(string path, string upstreamDialect)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, upstreamDialect == "anthropic" ? StreamPath.AnthropicPassThrough : StreamPath.OpenAiPassThrough));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, dialect: upstreamDialect);
        var anthropic = path.StartsWith(Messages, StringComparison.Ordinal);
        var problems = new List<string>();

        foreach (var (name, body) in HostileBodies(path))
        {
            var sentBefore = upstream.Requests.Count;
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Add("anthropic-version", "2023-06-01");
            var started = System.Diagnostics.Stopwatch.StartNew();
            using var response = await gateway.Client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            if (status is < 400 or >= 500)
            {
                problems.Add($"{name}: HTTP {status} {Preview(text)}");
                continue;
            }

            if (DialectError(text, anthropic) is { } wrong)
            {
                problems.Add($"{name}: {wrong}");
            }

            if (upstream.Requests.Count != sentBefore)
            {
                problems.Add($"{name}: reached the upstream");
            }

            if (started.Elapsed > TimeSpan.FromSeconds(5))
            {
                problems.Add($"{name}: took {started.Elapsed}");
            }
        }

        Assert.True(problems.Count == 0, $"{path} ({upstreamDialect} upstream):\n" + string.Join('\n', problems));
        await AssertStillServingAsync(gateway, path);
    }

    [Theory]
    [InlineData(Messages, "openai")]
    [InlineData(Messages, "anthropic")]
    [InlineData(Chat, "openai")]
    public async Task HugeBody_OverTheLimit_Gets413AndNormalOnesStillPass(string path, string upstreamDialect)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, upstreamDialect == "anthropic" ? StreamPath.AnthropicPassThrough : StreamPath.OpenAiPassThrough));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?> { ["Gateway:MaxRequestBodyBytes"] = "1048576" }, upstreamDialect);
        var huge = new string('a', 4 * 1024 * 1024);

        using var response = await gateway.Client.SendAsync(BodyRequest(path, $$"""{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"{{huge}}"}]}"""));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Null(DialectError(await response.Content.ReadAsStringAsync(), path == Messages));
        Assert.Empty(upstream.Requests);

        // A large string inside the limit is a legitimate request (pasted logs, files) and goes through.
        var large = new string('b', 512 * 1024);
        using var ok = await gateway.Client.SendAsync(BodyRequest(path, $$"""{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"{{large}}"}]}"""));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        await AssertStillServingAsync(gateway, path);
    }

    [Theory]
    [InlineData(Messages, "openai")]
    [InlineData(Messages, "anthropic")]
    [InlineData(Chat, "openai")]
    public async Task TenThousandMessages_HandledQuicklyAndGatewayKeepsServing(string path, string upstreamDialect)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, upstreamDialect == "anthropic" ? StreamPath.AnthropicPassThrough : StreamPath.OpenAiPassThrough));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, dialect: upstreamDialect);
        var messages = string.Join(',', Enumerable.Range(0, 10_000).Select(i => i % 2 == 0
            ? $$"""{"role":"user","content":[{"type":"text","text":"question {{i}}"}]}"""
            : $$"""{"role":"assistant","content":"answer {{i}}"}"""));

        var started = System.Diagnostics.Stopwatch.StartNew();
        using var response = await gateway.Client.SendAsync(BodyRequest(path, $$"""{"model":"m","max_tokens":5,"messages":[{{messages}}]}"""));

        // A long conversation is legitimate: forwarded (or, if a limit applies, refused with a 4xx), never a 5xx.
        Assert.True(response.StatusCode == HttpStatusCode.OK || (int)response.StatusCode is >= 400 and < 500, $"HTTP {(int)response.StatusCode}");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}");
        await AssertStillServingAsync(gateway, path);
    }

    [Fact]
    public void ShapeCheck_RecordedClaudeCodeBodies_Pass()
    {
        foreach (var name in Fixtures.RecordedRequestNames)
        {
            Assert.Null(LlamaGateway.Reliability.RequestShapeCheck.Check(Fixtures.RecordedBody(name), LlamaGateway.Pipeline.ApiRoute.Messages));
        }
    }

    private static HttpRequestMessage BodyRequest(string path, string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    private static async Task AssertStillServingAsync(GatewayHost gateway, string path)
    {
        var body = path == Completion
            ? """{"prompt":"hi","n_predict":5}"""
            : """{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}""";
        using var response = await gateway.Client.SendAsync(BodyRequest(path, body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Leaks.AssertNoneAsync(gateway);
    }

    /// <summary>Null when <paramref name="text"/> is an error body in the expected dialect, else what is wrong.</summary>
    private static string? DialectError(string text, bool anthropic)
    {
        try
        {
            using var json = JsonDocument.Parse(text);
            var root = json.RootElement;
            if (!root.TryGetProperty("error", out var error) || error.ValueKind != JsonValueKind.Object
                || !error.TryGetProperty("message", out var message) || string.IsNullOrWhiteSpace(message.GetString())
                || !error.TryGetProperty("type", out _))
            {
                return $"not an error body: {Preview(text)}";
            }

            if (anthropic && !(root.TryGetProperty("type", out var type) && type.GetString() == "error"))
            {
                return $"not in Anthropic's format: {Preview(text)}";
            }

            if (!anthropic && !error.TryGetProperty("code", out _))
            {
                return $"not in OpenAI's format: {Preview(text)}";
            }

            return null;
        }
        catch (JsonException)
        {
            return $"body is not JSON: {Preview(text)}";
        }
    }

    private static string Preview(string text) => text.Length <= 200 ? text : text[..200] + "...";
}
