using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.Tests.Support;
using LlamaGateway.Translation;

namespace LlamaGateway.Tests.Translation;

public sealed class AnthropicToOpenAiRequestTests
{
    private static readonly ChatRequestSettings Pinned = new(IdSlot: 2, MaxOutputTokens: 8192);

    private static readonly HashSet<string> AllowedTopLevel =
    [
        "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens", "stop", "temperature",
        "top_p", "top_k", "stream", "stream_options", "id_slot", "cache_prompt",
    ];

    public static TheoryData<string> Recorded => new(Fixtures.RecordedRequestNames);

    [Theory]
    [MemberData(nameof(Recorded))]
    public void Translate_RecordedRequest_ValidJsonPinnedToTheSlot(string fixture)
    {
        var input = JsonNode.Parse(Fixtures.RecordedBody(fixture))!;

        var (outcome, output) = Translate(Fixtures.RecordedBody(fixture), Pinned);
        var body = JsonNode.Parse(output)!;

        Assert.True(outcome.Success, outcome.Error);
        Assert.Equal(input["model"]!.GetValue<string>(), outcome.Model);
        Assert.Equal(input["stream"]!.GetValue<bool>(), outcome.Stream);
        Assert.Equal(2, body["id_slot"]!.GetValue<int>());
        Assert.True(body["cache_prompt"]!.GetValue<bool>());
        Assert.Equal(Math.Min(input["max_tokens"]!.GetValue<int>(), 8192), body["max_tokens"]!.GetValue<int>());
        Assert.Equal(outcome.Stream, body["stream"]!.GetValue<bool>());
        Assert.Equal(outcome.Stream, body["stream_options"]?["include_usage"]?.GetValue<bool>() ?? false);
    }

    [Theory]
    [MemberData(nameof(Recorded))]
    public void Translate_RecordedRequest_AnthropicOnlyFieldsGone(string fixture)
    {
        var (_, output) = Translate(Fixtures.RecordedBody(fixture), Pinned);
        var body = JsonNode.Parse(output)!.AsObject();

        Assert.All(body.Select(p => p.Key), key => Assert.Contains(key, AllowedTopLevel));
        Assert.DoesNotContain("cache_control", PropertyNames(body["messages"]!));
        Assert.DoesNotContain("defer_loading", PropertyNames(body["tools"]!));
        Assert.Contains("metadata", JsonNode.Parse(Fixtures.RecordedBody(fixture))!.AsObject().Select(p => p.Key));
    }

    [Theory]
    [MemberData(nameof(Recorded))]
    public void Translate_RecordedRequest_ToolsBecomeFunctionsWithTheirSchemas(string fixture)
    {
        var input = JsonNode.Parse(Fixtures.RecordedBody(fixture))!;
        var (_, output) = Translate(Fixtures.RecordedBody(fixture), Pinned);
        var tools = JsonNode.Parse(output)!["tools"]!.AsArray();
        var inputTools = input["tools"]!.AsArray();

        Assert.Equal(inputTools.Count, tools.Count);
        for (var i = 0; i < tools.Count; i++)
        {
            Assert.Equal("function", tools[i]!["type"]!.GetValue<string>());
            var function = tools[i]!["function"]!;
            Assert.Equal(inputTools[i]!["name"]!.GetValue<string>(), function["name"]!.GetValue<string>());
            Assert.Equal(inputTools[i]!["description"]!.GetValue<string>(), function["description"]!.GetValue<string>());
            Assert.True(JsonNode.DeepEquals(inputTools[i]!["input_schema"], function["parameters"]));
        }
    }

    [Theory]
    [MemberData(nameof(Recorded))]
    public void Translate_RecordedRequest_SystemFirstThenEveryMessageInOrder(string fixture)
    {
        var input = JsonNode.Parse(Fixtures.RecordedBody(fixture))!;
        var (_, output) = Translate(Fixtures.RecordedBody(fixture), Pinned);
        var messages = JsonNode.Parse(output)!["messages"]!.AsArray();

        var system = string.Join("\n", input["system"]!.AsArray().Select(b => b!["text"]!.GetValue<string>()));
        Assert.Equal("system", messages[0]!["role"]!.GetValue<string>());
        Assert.Equal(system, messages[0]!["content"]!.GetValue<string>());

        // Every input message maps to one output message of the same role, except a user turn made only of tool
        // results, which becomes one tool message per result.
        var expectedRoles = new List<string> { "system" };
        foreach (var message in input["messages"]!.AsArray())
        {
            var role = message!["role"]!.GetValue<string>();
            if (message["content"] is JsonArray blocks && role == "user")
            {
                var results = blocks.Count(b => b!["type"]!.GetValue<string>() == "tool_result");
                expectedRoles.AddRange(Enumerable.Repeat("tool", results));
                if (results < blocks.Count)
                {
                    expectedRoles.Add("user");
                }
            }
            else
            {
                expectedRoles.Add(role);
            }
        }

        Assert.Equal(expectedRoles, messages.Select(m => m!["role"]!.GetValue<string>()));
    }

    [Fact]
    public void Translate_ToolResultTurn_ToolMessageAnswersTheAssistantsToolCall()
    {
        var input = JsonNode.Parse(Fixtures.RecordedBody("conv2-tool-result"))!;
        var toolUse = input["messages"]!.AsArray().Last(m => m!["role"]!.GetValue<string>() == "assistant")!["content"]![0]!;
        var toolResult = input["messages"]!.AsArray()[^1]!["content"]![0]!;

        var (_, output) = Translate(Fixtures.RecordedBody("conv2-tool-result"), Pinned);
        var messages = JsonNode.Parse(output)!["messages"]!.AsArray();
        var assistant = messages[^2]!;
        var tool = messages[^1]!;

        var call = Assert.Single(assistant["tool_calls"]!.AsArray())!;
        Assert.Equal(toolUse["id"]!.GetValue<string>(), call["id"]!.GetValue<string>());
        Assert.Equal("function", call["type"]!.GetValue<string>());
        Assert.Equal(toolUse["name"]!.GetValue<string>(), call["function"]!["name"]!.GetValue<string>());
        Assert.Equal(toolUse["input"]!.ToJsonString(), call["function"]!["arguments"]!.GetValue<string>());
        Assert.Equal("tool", tool["role"]!.GetValue<string>());
        Assert.Equal(toolResult["tool_use_id"]!.GetValue<string>(), tool["tool_call_id"]!.GetValue<string>());
        Assert.Equal(toolResult["content"]!.GetValue<string>(), tool["content"]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(Recorded))]
    public void Translate_SameInputTwice_SameBytes(string fixture)
    {
        var (_, first) = Translate(Fixtures.RecordedBody(fixture), Pinned);
        var (_, second) = Translate(Fixtures.RecordedBody(fixture), Pinned);

        Assert.Equal(first, second);
    }

    [Theory]
    [MemberData(nameof(Recorded))]
    public void Translate_SameContentWrittenDifferently_SameBytes(string fixture)
    {
        var (_, original) = Translate(Fixtures.RecordedBody(fixture), Pinned);

        // What changes between turns without changing content: formatting and escaping, property order, markers
        // moving, and single text blocks turning into strings (and back).
        var variant = JsonNode.Parse(Fixtures.RecordedBody(fixture))!.AsObject();
        var reordered = new JsonObject();
        foreach (var (key, value) in variant.Reverse().ToList())
        {
            variant.Remove(key);
            reordered[key] = value;
        }

        foreach (var message in reordered["messages"]!.AsArray())
        {
            switch (message!["content"])
            {
                case JsonArray { Count: 1 } blocks when blocks[0]!["type"]!.GetValue<string>() == "text":
                    message["content"] = blocks[0]!["text"]!.GetValue<string>();
                    break;
                case JsonArray blocks:
                    foreach (var block in blocks)
                    {
                        block!.AsObject().Remove("cache_control");
                        block.AsObject()["cache_control"] = new JsonObject { ["type"] = "ephemeral" };
                    }

                    break;
                case JsonValue text:
                    message["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = text.GetValue<string>() });
                    break;
            }
        }

        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Default };
        var (outcome, rewritten) = Translate(Encoding.UTF8.GetBytes(reordered.ToJsonString(options)), Pinned);

        Assert.True(outcome.Success, outcome.Error);
        Assert.Equal(Encoding.UTF8.GetString(original), Encoding.UTF8.GetString(rewritten));
    }

    [Theory]
    [InlineData("turn1-first", "turn2-continue")]
    [InlineData("conv2-turn1", "conv2-tool-result")]
    public void Translate_NextTurn_EarlierMessagesSerializeToTheSameBytes(string earlier, string later)
    {
        var (_, first) = Translate(Fixtures.RecordedBody(earlier), Pinned);
        var (_, second) = Translate(Fixtures.RecordedBody(later), Pinned);
        using var firstDoc = JsonDocument.Parse(first);
        using var secondDoc = JsonDocument.Parse(second);
        var firstMessages = RawElements(firstDoc.RootElement.GetProperty("messages"));
        var secondMessages = RawElements(secondDoc.RootElement.GetProperty("messages"));

        Assert.True(secondMessages.Count > firstMessages.Count);
        for (var i = 0; i < firstMessages.Count; i++)
        {
            Assert.Equal(firstMessages[i], secondMessages[i]);
        }

        // And the body itself, up to the end of the earlier turn's last message, is a byte prefix.
        var lastEnd = MessageEnd(first, firstDoc, firstMessages.Count - 1);
        Assert.Equal(first.AsSpan(0, lastEnd).ToArray(), second.AsSpan(0, lastEnd).ToArray());
    }

    [Theory]
    [InlineData(128000, null, 128000)]
    [InlineData(128000, 4096, 4096)]
    [InlineData(100, 4096, 100)]
    public void Translate_MaxTokens_ClampedBySettings(int requested, int? limit, int expected)
    {
        var body = $$"""{"model":"m","max_tokens":{{requested}},"messages":[{"role":"user","content":"hi"}]}""";

        var (_, output) = Translate(body, new ChatRequestSettings(null, limit));

        Assert.Equal(expected, JsonNode.Parse(output)!["max_tokens"]!.GetValue<int>());
    }

    [Fact]
    public void Translate_NoMaxTokensButALimit_LimitApplies()
    {
        var (_, output) = Translate("""{"model":"m","messages":[{"role":"user","content":"hi"}]}""", new ChatRequestSettings(null, 512));

        Assert.Equal(512, JsonNode.Parse(output)!["max_tokens"]!.GetValue<int>());
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void Translate_IsolatedPrompt_SendsCachePromptFalse(bool isolate, bool expected)
    {
        var (_, output) = Translate("""{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}""", new ChatRequestSettings(1, null, isolate));

        Assert.Equal(expected, JsonNode.Parse(output)!["cache_prompt"]!.GetValue<bool>());
    }

    [Fact]
    public void Translate_NoSlot_NoIdSlotButCachePrompt()
    {
        var (outcome, output) = Translate("""{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}""", default);
        var body = JsonNode.Parse(output)!.AsObject();

        Assert.False(outcome.Stream);
        Assert.False(body.ContainsKey("id_slot"));
        Assert.False(body.ContainsKey("stream_options"));
        Assert.True(body["cache_prompt"]!.GetValue<bool>());
    }

    [Theory]
    [InlineData("""{"type":"auto"}""", "\"auto\"", null)]
    [InlineData("""{"type":"any"}""", "\"required\"", null)]
    [InlineData("""{"type":"none"}""", "\"none\"", null)]
    [InlineData("""{"type":"tool","name":"Read"}""", "\"required\"", null)]
    [InlineData("""{"type":"auto","disable_parallel_tool_use":true}""", "\"auto\"", false)]
    [InlineData("""{"type":"any","disable_parallel_tool_use":false}""", "\"required\"", true)]
    public void Translate_ToolChoice_MapsToOpenAiForm(string toolChoice, string expected, bool? parallel)
    {
        var body = $$$"""{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"name":"Read","input_schema":{"type":"object"}}],"tool_choice":{{{toolChoice}}}}""";

        var (_, output) = Translate(body, default);
        var result = JsonNode.Parse(output)!;

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), result["tool_choice"]));
        Assert.Equal(parallel, result["parallel_tool_calls"]?.GetValue<bool>());
    }

    [Fact]
    public void Translate_SamplingAndStop_PassedThrough()
    {
        var body = """{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.25,"top_p":0.9,"top_k":40,"stop_sequences":["END","\n\nHuman:"]}""";

        var (_, output) = Translate(body, default);
        var result = JsonNode.Parse(output)!;

        Assert.Equal(0.25, result["temperature"]!.GetValue<double>());
        Assert.Equal(0.9, result["top_p"]!.GetValue<double>());
        Assert.Equal(40, result["top_k"]!.GetValue<int>());
        Assert.Equal(["END", "\n\nHuman:"], result["stop"]!.AsArray().Select(s => s!.GetValue<string>()));
    }

    [Fact]
    public void Translate_AssistantBlocks_TextContentThinkingReasoningToolUseToolCalls()
    {
        var body = """
            {"model":"m","messages":[
              {"role":"user","content":"go"},
              {"role":"assistant","content":[
                {"type":"thinking","thinking":"plan it","signature":"sig"},
                {"type":"redacted_thinking","data":"opaque"},
                {"type":"text","text":"First"},
                {"type":"text","text":"Second"},
                {"type":"tool_use","id":"toolu_a","name":"Bash","input":{"command":"ls", "n": [1, 2]}},
                {"type":"tool_use","id":"toolu_b","name":"ListAgents","input":{}}
              ]}]}
            """;

        var (_, output) = Translate(body, default);
        var assistant = JsonNode.Parse(output)!["messages"]![1]!;

        Assert.Equal("First\nSecond", assistant["content"]!.GetValue<string>());
        Assert.Equal("plan it", assistant["reasoning_content"]!.GetValue<string>());
        var calls = assistant["tool_calls"]!.AsArray();
        Assert.Equal(["toolu_a", "toolu_b"], calls.Select(c => c!["id"]!.GetValue<string>()));
        Assert.Equal("""{"command":"ls","n":[1,2]}""", calls[0]!["function"]!["arguments"]!.GetValue<string>());
        Assert.Equal("{}", calls[1]!["function"]!["arguments"]!.GetValue<string>());
        Assert.DoesNotContain("opaque", Encoding.UTF8.GetString(output));
        Assert.DoesNotContain("sig", Encoding.UTF8.GetString(output));
    }

    [Fact]
    public void Translate_AssistantOnlyToolUse_ContentIsEmptyString()
    {
        var body = """{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"Read","input":{"file_path":"/x"}}]}]}""";

        var (_, output) = Translate(body, default);
        var assistant = JsonNode.Parse(output)!["messages"]![0]!.AsObject();

        Assert.Equal(string.Empty, assistant["content"]!.GetValue<string>());
        Assert.False(assistant.ContainsKey("reasoning_content"));
    }

    [Fact]
    public void Translate_UserTurnWithResultsAndText_ToolMessagesFirstThenUserContent()
    {
        var body = """
            {"model":"m","messages":[{"role":"user","content":[
              {"type":"text","text":"before"},
              {"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"line 1"},{"type":"text","text":"line 2"}]},
              {"type":"tool_result","tool_use_id":"t2","content":"plain","is_error":true},
              {"type":"tool_result","tool_use_id":"t3"},
              {"type":"text","text":"after"}
            ]}]}
            """;

        var (_, output) = Translate(body, default);
        var messages = JsonNode.Parse(output)!["messages"]!.AsArray();

        Assert.Equal(["tool", "tool", "tool", "user"], messages.Select(m => m!["role"]!.GetValue<string>()));
        Assert.Equal(["t1", "t2", "t3"], messages.Take(3).Select(m => m!["tool_call_id"]!.GetValue<string>()));
        Assert.Equal(["line 1\nline 2", "plain", ""], messages.Take(3).Select(m => m!["content"]!.GetValue<string>()));
        Assert.Equal(["before", "after"], messages[3]!["content"]!.AsArray().Select(p => p!["text"]!.GetValue<string>()));
    }

    [Fact]
    public void Translate_Images_BecomeImageUrlPartsAndToolImagesLeadTheUserContent()
    {
        var body = """
            {"model":"m","messages":[{"role":"user","content":[
              {"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"shot"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"QUJD"}}]},
              {"type":"text","text":"look"},
              {"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}}
            ]}]}
            """;

        var (_, output) = Translate(body, default);
        var messages = JsonNode.Parse(output)!["messages"]!.AsArray();
        var parts = messages[1]!["content"]!.AsArray();

        Assert.Equal("shot", messages[0]!["content"]!.GetValue<string>());
        Assert.Equal(["image_url", "text", "image_url"], parts.Select(p => p!["type"]!.GetValue<string>()));
        Assert.Equal("data:image/png;base64,QUJD", parts[0]!["image_url"]!["url"]!.GetValue<string>());
        Assert.Equal("https://example.com/a.jpg", parts[2]!["image_url"]!["url"]!.GetValue<string>());
    }

    [Fact]
    public void Translate_UnsupportedBlocks_BecomePlaceholdersOrTheirText()
    {
        var body = """
            {"model":"m","messages":[{"role":"user","content":[
              {"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc text"}},
              {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}}
            ]}]}
            """;

        var (_, output) = Translate(body, default);
        var parts = JsonNode.Parse(output)!["messages"]![0]!["content"]!.AsArray();

        Assert.Equal(["doc text", "[document block omitted]"], parts.Select(p => p!["text"]!.GetValue<string>()));
    }

    [Fact]
    public void Translate_SystemRoleMessage_StaysWhereItWas()
    {
        var body = """{"model":"m","system":"top","messages":[{"role":"user","content":"a"},{"role":"system","content":[{"type":"text","text":"env"},{"type":"text","text":"more"}]},{"role":"assistant","content":"b"}]}""";

        var (_, output) = Translate(body, default);
        var messages = JsonNode.Parse(output)!["messages"]!.AsArray();

        Assert.Equal(["system", "user", "system", "assistant"], messages.Select(m => m!["role"]!.GetValue<string>()));
        Assert.Equal("top", messages[0]!["content"]!.GetValue<string>());
        Assert.Equal("env\nmore", messages[2]!["content"]!.GetValue<string>());
    }

    [Fact]
    public void Translate_ServerTools_LeftOut()
    {
        var body = """{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3},{"name":"Read","description":"r","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}]}""";

        var (_, output) = Translate(body, default);
        var tools = JsonNode.Parse(output)!["tools"]!.AsArray();

        Assert.Equal("Read", Assert.Single(tools)!["function"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public void Translate_ToolWithoutDescription_DescriptionIsEmpty()
    {
        var (_, output) = Translate("""{"model":"m","messages":[],"tools":[{"name":"X","input_schema":{"type":"object"}}]}""", default);

        Assert.Equal(string.Empty, JsonNode.Parse(output)!["tools"]![0]!["function"]!["description"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[]", "JSON object")]
    [InlineData("""{"messages":[]}""", "model")]
    [InlineData("""{"model":"m"}""", "messages")]
    [InlineData("""{"model":"m","messages":[{"role":"robot","content":"x"}]}""", "messages[0].role")]
    [InlineData("""{"model":"m","messages":[{"role":"user"}]}""", "messages[0].content")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}""", "messages[0].content[0].type")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}""", "messages[0].content[0].text")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}""", "messages[0].content[0].tool_use_id")]
    [InlineData("""{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","input":{}}]}]}""", "messages[0].content[0].name")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file"}}]}]}""", "messages[0].content[0].source.type")]
    [InlineData("""{"model":"m","messages":[],"tools":[{"name":"x"}]}""", "tools[0].input_schema")]
    [InlineData("""{"model":"m","messages":[],"tool_choice":{"type":"sometimes"}}""", "tool_choice.type")]
    [InlineData("""{"model":"m","messages":[],"max_tokens":0}""", "max_tokens")]
    [InlineData("""{"model":"m","messages":[],"max_tokens":"many"}""", "max_tokens")]
    [InlineData("""{"model":"m","messages":[],"temperature":"hot"}""", "temperature")]
    [InlineData("""{"model":"m","messages":[],"stop_sequences":["a",1]}""", "stop_sequences[1]")]
    [InlineData("""{"model":"m","messages":[],"stream":"yes"}""", "stream")]
    [InlineData("""{"model":"m","system":5,"messages":[]}""", "system")]
    [InlineData("""{"model":"m","system":[{"type":"text"}],"messages":[]}""", "system[0].text")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":1}]}]}]}""", "messages[0].content[0].content[0].text")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"QQ=="}}]}]}""", "messages[0].content[0].source.media_type")]
    public void Translate_BadShape_FailsNamingTheField(string body, string field)
    {
        var output = new ArrayBufferWriter<byte>();

        var outcome = AnthropicToOpenAiRequest.Translate(Encoding.UTF8.GetBytes(body), default, output);

        // On failure the output is discarded by the caller (it may hold a partial body), so only the error counts.
        Assert.False(outcome.Success);
        Assert.Contains(field, outcome.Error);
    }

    [Fact]
    public void Translate_LoneSurrogateEscapes_ReplacedSoTheRequestStillTranslates()
    {
        const string body = """{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a\ud800b \\ud800 \ud83d\ude00 \udc00"},{"type":"text","text":"c"}]}]}""";

        var (_, output) = Translate(body, default);
        var text = JsonNode.Parse(output)!["messages"]![0]!["content"]![0]!["text"]!.GetValue<string>();

        Assert.Equal("a\uFFFDb \\ud800 \U0001F600 \uFFFD", text);
    }

    private static (TranslationOutcome Outcome, byte[] Output) Translate(string body, in ChatRequestSettings settings) =>
        Translate(Encoding.UTF8.GetBytes(body), settings);

    private static (TranslationOutcome Outcome, byte[] Output) Translate(byte[] body, in ChatRequestSettings settings)
    {
        var output = new ArrayBufferWriter<byte>();
        var outcome = AnthropicToOpenAiRequest.Translate(body, settings, output);
        Assert.True(outcome.Success, outcome.Error);
        return (outcome, output.WrittenSpan.ToArray());
    }

    private static List<string> RawElements(JsonElement array) =>
        array.EnumerateArray().Select(e => Encoding.UTF8.GetString(JsonMarshal.GetRawUtf8Value(e))).ToList();

    /// <summary>Byte offset just past the given message in a compact body.</summary>
    private static int MessageEnd(byte[] body, JsonDocument document, int index)
    {
        var raw = JsonMarshal.GetRawUtf8Value(document.RootElement.GetProperty("messages")[index]);
        var at = body.AsSpan().IndexOf(raw);
        Assert.True(at >= 0);
        return at + raw.Length;
    }

    private static IEnumerable<string> PropertyNames(JsonNode node) => node switch
    {
        JsonObject o => o.SelectMany(p => PropertyNames(p.Value!).Prepend(p.Key)),
        JsonArray a => a.SelectMany(n => n is null ? [] : PropertyNames(n)),
        _ => [],
    };
}
