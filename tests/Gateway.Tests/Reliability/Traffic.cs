using System.Net.Http;
using System.Text;
using System.Text.Json;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Reliability;

/// <summary>Client requests and upstream responses for each <see cref="StreamPath"/>, and checks of what the client got.</summary>
internal static class Traffic
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    public static string UpstreamDialect(StreamPath path) => path == StreamPath.AnthropicPassThrough ? "anthropic" : "openai";

    public static bool ClientIsAnthropic(StreamPath path) => path != StreamPath.OpenAiPassThrough;

    public static HttpRequestMessage Request(StreamPath path, bool stream = true, string text = "hi")
    {
        var streamJson = stream ? "true" : "false";
        var textJson = JsonSerializer.Serialize(text);
        if (!ClientIsAnthropic(path))
        {
            return new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent($$"""{"model":"m","stream":{{streamJson}},"messages":[{"role":"user","content":{{textJson}}}]}""", Encoding.UTF8, "application/json"),
            };
        }

        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages?beta=true")
        {
            Content = new StringContent($$"""{"model":"claude-x","max_tokens":100,"stream":{{streamJson}},"messages":[{"role":"user","content":{{textJson}}}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    /// <summary>Starts the upstream's stream and writes its first content event.</summary>
    public static async Task WriteFirstEventAsync(HttpContext http, StreamPath path)
    {
        await FakeUpstream.StartStreamAsync(http);
        if (path == StreamPath.AnthropicPassThrough)
        {
            await FakeUpstream.WriteEventAsync(http, "message_start", """{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":7,"output_tokens":0}}}""");
            await FakeUpstream.WriteEventAsync(http, "content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""");
            await FakeUpstream.WriteEventAsync(http, "content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}""");
        }
        else
        {
            await FakeUpstream.WriteEventAsync(http, null, """{"choices":[{"index":0,"delta":{"role":"assistant","content":"a"}}]}""");
        }
    }

    /// <summary>Writes one more content event.</summary>
    public static Task WriteDeltaAsync(HttpContext http, StreamPath path, string text = "b") => path == StreamPath.AnthropicPassThrough
        ? FakeUpstream.WriteEventAsync(http, "content_block_delta", $$$"""{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":{{{JsonSerializer.Serialize(text)}}}}}""")
        : FakeUpstream.WriteEventAsync(http, null, $$$"""{"choices":[{"index":0,"delta":{"content":{{{JsonSerializer.Serialize(text)}}}}}]}""");

    /// <summary>Finishes the stream properly.</summary>
    public static async Task WriteEndAsync(HttpContext http, StreamPath path)
    {
        if (path == StreamPath.AnthropicPassThrough)
        {
            await FakeUpstream.WriteEventAsync(http, "content_block_stop", """{"type":"content_block_stop","index":0}""");
            await FakeUpstream.WriteEventAsync(http, "message_delta", """{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}""");
            await FakeUpstream.WriteEventAsync(http, "message_stop", """{"type":"message_stop"}""");
        }
        else
        {
            await FakeUpstream.WriteEventAsync(http, null, """{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""");
            await FakeUpstream.WriteEventAsync(http, null, """{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7},"timings":{"cache_n":0,"prompt_n":5,"prompt_ms":1.0}}""");
            await FakeUpstream.WriteEventAsync(http, null, "[DONE]");
        }
    }

    /// <summary>A whole stream at once.</summary>
    public static async Task WriteWholeStreamAsync(HttpContext http, StreamPath path)
    {
        await WriteFirstEventAsync(http, path);
        await WriteEndAsync(http, path);
    }

    /// <summary>A complete non-streamed answer in the upstream's dialect.</summary>
    public static Task WriteJsonAsync(HttpContext http, StreamPath path)
    {
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(path == StreamPath.AnthropicPassThrough
            ? """{"id":"m","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"""
            : """{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}""");
    }

    /// <summary>Reads the whole stream the client receives.</summary>
    public static async Task<List<string>> ReadStreamAsync(HttpResponseMessage response)
    {
        using var events = new SseClient(await response.Content.ReadAsStreamAsync());
        return await events.ReadAllAsync().WaitAsync(Bound);
    }

    /// <summary>The error of an error event, or null when the event is not one.</summary>
    public static (string Type, string Message)? ErrorOf(string sseEvent, StreamPath path)
    {
        var lines = sseEvent.Split('\n');
        var data = lines.FirstOrDefault(l => l.StartsWith("data: ", StringComparison.Ordinal))?["data: ".Length..];
        if (data is null || !data.StartsWith('{'))
        {
            return null;
        }

        using var json = JsonDocument.Parse(data);
        if (ClientIsAnthropic(path))
        {
            if (lines[0] != "event: error")
            {
                return null;
            }

            Assert.Equal("error", json.RootElement.GetProperty("type").GetString());
            var error = json.RootElement.GetProperty("error");
            return (error.GetProperty("type").GetString()!, error.GetProperty("message").GetString()!);
        }

        if (!json.RootElement.TryGetProperty("error", out var openAiError))
        {
            return null;
        }

        return (openAiError.GetProperty("type").GetString()!, openAiError.GetProperty("message").GetString()!);
    }

    /// <summary>Asserts the stream's last event is an error event (and the only one), and returns it.</summary>
    public static (string Type, string Message) AssertEndsWithError(List<string> events, StreamPath path)
    {
        Assert.NotEmpty(events);
        var error = ErrorOf(events[^1], path);
        Assert.True(error is not null, $"the stream's last event is not an error event: {events[^1]}");
        Assert.Single(events, e => ErrorOf(e, path) is not null);
        if (ClientIsAnthropic(path))
        {
            Assert.DoesNotContain(events, e => e.StartsWith("event: message_stop", StringComparison.Ordinal));
        }
        else
        {
            Assert.DoesNotContain(events, e => e == "data: [DONE]");
        }

        return error.Value;
    }

    /// <summary>Asserts the stream finished properly, with no error event.</summary>
    public static void AssertCompleted(List<string> events, StreamPath path)
    {
        Assert.DoesNotContain(events, e => ErrorOf(e, path) is not null);
        if (ClientIsAnthropic(path))
        {
            Assert.StartsWith("event: message_stop", events[^1]);
        }
        else
        {
            Assert.Equal("data: [DONE]", events[^1]);
        }
    }

    /// <summary>Reads a non-streamed error body in the client's dialect.</summary>
    public static async Task<(string Type, string Message)> ErrorBodyAsync(HttpResponseMessage response, bool anthropic)
    {
        var text = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(text);
        if (anthropic)
        {
            Assert.Equal("error", json.RootElement.GetProperty("type").GetString());
        }

        var error = json.RootElement.GetProperty("error");
        return (error.GetProperty("type").GetString()!, error.GetProperty("message").GetString()!);
    }
}
