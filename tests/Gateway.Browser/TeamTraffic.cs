using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Browser;

/// <summary>
/// Claude Code-like traffic from a small team, and llama-server-like answers for it: each user runs a conversation
/// whose turns grow by a message, so the upstream reports a cold first turn and then mostly cached prompts.
/// </summary>
internal static class TeamTraffic
{
    public const string AliceKey = "sk-alice-browser-3f9c1a";
    public const string BobKey = "sk-bob-browser-88d2e4";
    public const string CarolKey = "sk-carol-browser-51b7aa";
    public const string AdminKey = "sk-admin-browser-c40f19";

    private static readonly string SystemPrompt = "You are Claude Code, a coding assistant. " + string.Concat(Enumerable.Repeat("Follow the repository's conventions. ", 200));

    /// <summary>The next turn of <paramref name="user"/>'s conversation: <paramref name="turn"/> user messages so far.</summary>
    public static HttpRequestMessage ChatTurn(string key, string user, int turn, bool hold = false)
    {
        var messages = new JsonArray { new JsonObject { ["role"] = "system", ["content"] = SystemPrompt + " Project of " + user + "." } };
        for (var i = 1; i <= turn; i++)
        {
            messages.Add(new JsonObject { ["role"] = "user", ["content"] = $"{user}: step {i} of the refactoring{(hold && i == turn ? " (hold)" : string.Empty)}" });
            if (i < turn)
            {
                messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = $"Done with step {i}." });
            }
        }

        var body = new JsonObject
        {
            ["model"] = "qwen-coder",
            ["max_tokens"] = 512,
            ["stream"] = false,
            ["messages"] = messages,
            ["tools"] = new JsonArray
            {
                new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "Read", ["parameters"] = new JsonObject { ["type"] = "object" } } },
                new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "Edit", ["parameters"] = new JsonObject { ["type"] = "object" } } },
            },
        };
        return Post("/v1/chat/completions", key, body.ToJsonString());
    }

    /// <summary>Claude Code's quota probe: one token, one word; the gateway keeps it off conversation slots.</summary>
    public static HttpRequestMessage QuotaProbe(string key) =>
        Post("/v1/chat/completions", key, """{"model":"qwen-coder","max_tokens":1,"messages":[{"role":"user","content":"quota"}]}""");

    public static HttpRequestMessage Failing(string key) =>
        Post("/v1/chat/completions", key, """{"model":"qwen-coder","max_tokens":8,"messages":[{"role":"user","content":"please fail"}]}""");

    public static HttpRequestMessage Get(string path, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("x-api-key", key);
        return request;
    }

    private static HttpRequestMessage Post(string path, string key, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    /// <summary>Answers like llama-server's /v1/chat/completions, with usage and timings that depend on the turn.</summary>
    public static async Task AnswerAsync(HttpContext http, RecordedRequest request, Task release)
    {
        var text = request.BodyText;
        if (text.Contains("(hold)", StringComparison.Ordinal))
        {
            await release.WaitAsync(http.RequestAborted);
        }

        http.Response.ContentType = "application/json";
        if (text.Contains("please fail", StringComparison.Ordinal))
        {
            http.Response.StatusCode = StatusCodes.Status500InternalServerError;
            await http.Response.WriteAsync("""{"error":{"code":500,"message":"failed to decode the batch (out of memory?)","type":"server_error"}}""");
            return;
        }

        using var body = JsonDocument.Parse(request.Body);
        var root = body.RootElement;
        var messages = root.TryGetProperty("messages", out var m) ? m.GetArrayLength() : 1;
        var prompt = messages <= 1 ? 12 : 9_000 + (700 * messages);
        var cached = messages <= 2 ? 0 : prompt - (120 + (35 * messages));
        var recomputed = prompt - cached;
        var promptMs = (recomputed / 2.5).ToString("0.0", CultureInfo.InvariantCulture);
        var usage = $$$""" "usage":{"prompt_tokens":{{{prompt}}},"completion_tokens":48,"total_tokens":{{{prompt + 48}}},"prompt_tokens_details":{"cached_tokens":{{{cached}}}}},"timings":{"cache_n":{{{cached}}},"prompt_n":{{{recomputed}}},"prompt_ms":{{{promptMs}}},"predicted_n":48,"predicted_ms":960.0} """;
        if (!(root.TryGetProperty("stream", out var stream) && stream.ValueKind == JsonValueKind.True))
        {
            await http.Response.WriteAsync($$"""{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"qwen-coder","choices":[{"index":0,"message":{"role":"assistant","content":"Done."},"finish_reason":"stop"}],{{usage}}}""");
            return;
        }

        await FakeUpstream.StartStreamAsync(http);
        await FakeUpstream.WriteEventAsync(http, null, """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"qwen-coder","choices":[{"index":0,"delta":{"role":"assistant","content":"Done."},"finish_reason":null}]}""");
        await FakeUpstream.WriteEventAsync(http, null, $$"""{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"qwen-coder","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],{{usage}}}""");
        await FakeUpstream.WriteEventAsync(http, null, "[DONE]");
    }
}
