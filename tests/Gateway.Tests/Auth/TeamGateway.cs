using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Auth;

/// <summary>A gateway with a team configured (alice by plain key, bob by SHA-256, an admin key) and llama-like answers.</summary>
internal static class TeamGateway
{
    public const string AliceKey = "sk-alice-4b1d9c7e2f6a";
    public const string BobKey = "sk-bob-90f3a1c6d2e8";
    public const string AdminKey = "sk-admin-77e2b4c9a015";

    /// <summary>
    /// Polls until <paramref name="condition"/> holds (or fails after a bound): the pipeline accounts a request after
    /// the client has its response, so counters lag the response slightly.
    /// </summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }

    public static string Sha256Hex(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant();

    public static Dictionary<string, string?> Settings(IDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Users:0:Name"] = "alice",
            ["Gateway:Users:0:ApiKey"] = AliceKey,
            ["Gateway:Users:1:Name"] = "bob",
            ["Gateway:Users:1:ApiKeySha256"] = Sha256Hex(BobKey),
            ["Gateway:AdminApiKey"] = AdminKey,

            // Side requests may use every slot, so concurrency tests measure the per-user cap, not the side lane; the
            // slot count is configured because requests sent before the first /props probe would see one slot.
            ["Gateway:Routing:SideLaneSlots"] = "0",
            ["Gateway:Upstreams:0:Slots"] = "4",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return settings;
    }

    public static Task<GatewayHost> StartAsync(FakeUpstream upstream, IDictionary<string, string?>? extra = null, string dialect = "anthropic") =>
        GatewayHost.StartAsync(upstream.BaseUrl, Settings(extra), dialect);

    public const string MessagesBody = """{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}""";

    public const string FailingMessagesBody = """{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","content":"please fail"}]}""";

    public const string ChatBody = """{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}""";

    /// <summary>A Claude Code style request; <paramref name="bearer"/> sends the key as ANTHROPIC_AUTH_TOKEN does.</summary>
    public static HttpRequestMessage Request(string path, string? key, bool bearer = false, string? body = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(body ?? (path.StartsWith("/v1/messages", StringComparison.Ordinal) ? MessagesBody : ChatBody), Encoding.UTF8, "application/json"),
        };
        if (path.StartsWith("/v1/messages", StringComparison.Ordinal))
        {
            request.Headers.Add("anthropic-version", "2023-06-01");
        }

        if (key is not null)
        {
            if (bearer)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            }
            else
            {
                request.Headers.Add("x-api-key", key);
            }
        }

        return request;
    }

    public static HttpRequestMessage Get(string path, string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Add("x-api-key", key);
        }

        return request;
    }

    /// <summary>Answers like llama-server: usage (and for OpenAI routes timings) so the gateway has tokens to account.</summary>
    public static async Task AnswerAsync(HttpContext http, RecordedRequest request)
    {
        var path = request.Path.Split('?')[0];
        http.Response.ContentType = "application/json";
        if (request.BodyText.Contains("please fail", StringComparison.Ordinal))
        {
            http.Response.StatusCode = StatusCodes.Status500InternalServerError;
            await http.Response.WriteAsync(path.StartsWith("/v1/messages", StringComparison.Ordinal)
                ? """{"type":"error","error":{"type":"api_error","message":"the model crashed"}}"""
                : """{"error":{"code":500,"message":"the model crashed","type":"server_error"}}""");
            return;
        }

        if (path == "/v1/messages/count_tokens")
        {
            await http.Response.WriteAsync("""{"input_tokens":42}""");
            return;
        }

        if (path == "/v1/messages")
        {
            await http.Response.WriteAsync("""{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":150,"cache_read_input_tokens":850,"output_tokens":12}}""");
            return;
        }

        using var body = JsonDocument.Parse(request.Body);
        var stream = body.RootElement.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        const string Usage = """ "usage":{"prompt_tokens":1000,"completion_tokens":12,"total_tokens":1012,"prompt_tokens_details":{"cached_tokens":850}},"timings":{"cache_n":850,"prompt_n":150,"prompt_ms":75.0,"predicted_n":12,"predicted_ms":120.0} """;
        if (!stream)
        {
            await http.Response.WriteAsync($$"""{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],{{Usage}}}""");
            return;
        }

        await FakeUpstream.StartStreamAsync(http);
        await FakeUpstream.WriteEventAsync(http, null, """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}""");
        await FakeUpstream.WriteEventAsync(http, null, $$"""{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],{{Usage}}}""");
        await FakeUpstream.WriteEventAsync(http, null, "[DONE]");
    }
}
