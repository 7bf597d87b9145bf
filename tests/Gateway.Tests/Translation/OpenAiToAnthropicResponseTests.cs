using System.Buffers;
using System.Text.Json.Nodes;
using LlamaGateway.Tests.Streaming;
using LlamaGateway.Translation;
using LlamaGateway.Usage;

namespace LlamaGateway.Tests.Translation;

public sealed class OpenAiToAnthropicResponseTests
{
    [Theory]
    [InlineData("chat-response-text-length.json")]
    [InlineData("chat-response-reasoning-text.json")]
    [InlineData("chat-response-tool-calls.json")]
    public void Translate_RecordedResponse_MessageCarriesTheUpstreamContentAndUsage(string fixture)
    {
        var upstream = JsonNode.Parse(LlamaServerFixtures.Read(fixture))!;
        var choice = upstream["choices"]![0]!;
        var message = choice["message"]!;
        var usage = new UpstreamUsage();
        var output = new ArrayBufferWriter<byte>();

        var ok = OpenAiToAnthropicResponse.Translate(LlamaServerFixtures.Read(fixture), "claude-x", output, usage, out _);
        var result = JsonNode.Parse(output.WrittenSpan)!;

        Assert.True(ok);
        Assert.Equal("message", result["type"]!.GetValue<string>());
        Assert.Equal("assistant", result["role"]!.GetValue<string>());
        Assert.Equal("claude-x", result["model"]!.GetValue<string>());
        Assert.StartsWith("msg_", result["id"]!.GetValue<string>());

        var expectedTypes = new List<string>();
        var content = result["content"]!.AsArray();
        if (message["reasoning_content"]?.GetValue<string>() is { Length: > 0 } reasoning)
        {
            expectedTypes.Add("thinking");
            Assert.Equal(reasoning, content[expectedTypes.Count - 1]!["thinking"]!.GetValue<string>());
        }

        if (message["content"]?.GetValue<string>() is { Length: > 0 } text)
        {
            expectedTypes.Add("text");
            Assert.Equal(text, content[expectedTypes.Count - 1]!["text"]!.GetValue<string>());
        }

        foreach (var call in message["tool_calls"]?.AsArray() ?? [])
        {
            expectedTypes.Add("tool_use");
            var block = content[expectedTypes.Count - 1]!;
            Assert.Equal(call!["id"]!.GetValue<string>(), block["id"]!.GetValue<string>());
            Assert.Equal(call["function"]!["name"]!.GetValue<string>(), block["name"]!.GetValue<string>());
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(call["function"]!["arguments"]!.GetValue<string>()), block["input"]));
        }

        Assert.Equal(expectedTypes, content.Select(b => b!["type"]!.GetValue<string>()));
        var expectedStop = choice["finish_reason"]!.GetValue<string>() switch
        {
            "length" => "max_tokens",
            "tool_calls" => "tool_use",
            _ => "end_turn",
        };
        Assert.Equal(expectedStop, result["stop_reason"]!.GetValue<string>());

        var timings = upstream["timings"]!;
        Assert.Equal(timings["prompt_n"]!.GetValue<int>(), result["usage"]!["input_tokens"]!.GetValue<int>());
        Assert.Equal(timings["cache_n"]!.GetValue<int>(), result["usage"]!["cache_read_input_tokens"]!.GetValue<int>());
        Assert.Equal(upstream["usage"]!["completion_tokens"]!.GetValue<int>(), result["usage"]!["output_tokens"]!.GetValue<int>());
        Assert.Equal(upstream["usage"]!["prompt_tokens"]!.GetValue<int>(), usage.PromptTokens);
    }

    [Fact]
    public void Translate_ContextOverflowError_PromptIsTooLongInAnthropicWords()
    {
        var upstream = JsonNode.Parse(LlamaServerFixtures.Read("chat-error-exceed-context.json"))!["error"]!;
        var output = new ArrayBufferWriter<byte>();

        var ok = OpenAiToAnthropicResponse.Translate(LlamaServerFixtures.Read("chat-error-exceed-context.json"), "m", output, new UpstreamUsage(), out var errorType);
        var result = JsonNode.Parse(output.WrittenSpan)!;

        Assert.False(ok);
        Assert.Equal("invalid_request_error", errorType);
        Assert.Equal(400, AnthropicErrors.StatusCodeFor(errorType));
        Assert.Equal("error", result["type"]!.GetValue<string>());
        Assert.Equal(errorType, result["error"]!["type"]!.GetValue<string>());
        Assert.Equal(
            $"prompt is too long: {upstream["n_prompt_tokens"]} tokens > {upstream["n_ctx"]} maximum",
            result["error"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public void Translate_TruncatedToolArguments_InputIsEmptyObject()
    {
        const string body = """{"choices":[{"finish_reason":"length","index":0,"message":{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"Read","arguments":"{\"file_pa"},"id":"abc"}]}}],"usage":{"completion_tokens":5,"prompt_tokens":9}}""";
        var output = new ArrayBufferWriter<byte>();
        var usage = new UpstreamUsage();

        Assert.True(OpenAiToAnthropicResponse.Translate(System.Text.Encoding.UTF8.GetBytes(body), "m", output, usage, out _));
        var result = JsonNode.Parse(output.WrittenSpan)!;

        Assert.Equal("{}", result["content"]![0]!["input"]!.ToJsonString());
        Assert.Equal("max_tokens", result["stop_reason"]!.GetValue<string>());
        Assert.Equal(9, result["usage"]!["input_tokens"]!.GetValue<int>());
        Assert.Equal(9, usage.PromptTokens);
        Assert.Equal(-1, usage.CachedTokens);
    }

    [Theory]
    [InlineData("""{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}""", "overloaded_error", "Loading model")]
    [InlineData("""{"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}}""", "authentication_error", "Invalid API Key")]
    [InlineData("""{"error":"plain text"}""", "api_error", "plain text")]
    [InlineData("""{"error":{"code":404,"message":"gone"}}""", "not_found_error", "gone")]
    [InlineData("<html>bad gateway</html>", "api_error", "")]
    public void TranslateError_UpstreamErrorBodies_MappedToAnthropicErrors(string body, string type, string message)
    {
        var output = new ArrayBufferWriter<byte>();

        var written = OpenAiToAnthropicResponse.TranslateError(System.Text.Encoding.UTF8.GetBytes(body), output);
        var result = JsonNode.Parse(output.WrittenSpan)!;

        Assert.Equal(type, written);
        Assert.Equal(type, result["error"]!["type"]!.GetValue<string>());
        Assert.Contains(message, result["error"]!["message"]!.GetValue<string>());
    }
}
