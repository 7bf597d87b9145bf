using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using LlamaGateway.Pipeline;
using LlamaGateway.Translation;

namespace LlamaGateway.Tests.Translation;

public sealed class OpenAiRequestPatcherTests
{
    private const ApiRoute Chat = ApiRoute.ChatCompletions;
    private const ApiRoute Completion = ApiRoute.Completion;

    private static readonly string[] LimitSpellings = ["n_predict", "max_completion_tokens", "max_tokens"];

    [Fact]
    public void Patch_ChatBody_SlotAndCachePromptReplacedEverythingElseKept()
    {
        const string body = """{"model":"qwen","messages":[{"role":"user","content":"hi"}],"id_slot":0,"cache_prompt":false,"temperature":0.5,"stream":true}""";

        var (outcome, output) = Patch(body, Chat, new ChatRequestSettings(3, null));
        var result = JsonNode.Parse(output)!.AsObject();

        Assert.True(outcome.Success);
        Assert.True(outcome.Stream);
        Assert.Equal("qwen", outcome.Model);
        Assert.Equal(3, result["id_slot"]!.GetValue<int>());
        Assert.True(result["cache_prompt"]!.GetValue<bool>());
        var expected = JsonNode.Parse(body)!.AsObject();
        expected["id_slot"] = 3;
        expected["cache_prompt"] = true;
        Assert.True(JsonNode.DeepEquals(expected, result));
    }

    [Theory]
    [InlineData("""{"prompt":"x","cache_prompt":true}""")]
    [InlineData("""{"prompt":"x"}""")]
    public void Patch_IsolatedPrompt_CachePromptFalseWhateverTheClientSent(string body)
    {
        foreach (var route in new[] { Chat, Completion })
        {
            var (_, output) = Patch(body, route, new ChatRequestSettings(2, null, IsolatePrompt: true));
            var result = JsonNode.Parse(output)!.AsObject();

            Assert.False(result["cache_prompt"]!.GetValue<bool>());
            Assert.Equal(2, result["id_slot"]!.GetValue<int>());
            Assert.Single(result, p => p.Key == "cache_prompt");
        }
    }

    /// <summary>Every spelling llama-server reads, in every numeric form a JSON number can take.</summary>
    [Theory]
    [InlineData("max_tokens", "128000", 4096, 4096)]
    [InlineData("max_tokens", "100", 4096, 100)]
    [InlineData("max_completion_tokens", "50000", 4096, 4096)]
    [InlineData("max_completion_tokens", "1e9", 1000, 1000)]
    [InlineData("max_completion_tokens", "1E+9", 1000, 1000)]
    [InlineData("n_predict", "1e3", 4096, 1000)]
    [InlineData("max_tokens", "1000.0", 4096, 1000)]
    [InlineData("max_tokens", "1.0e2", 4096, 100)]
    [InlineData("n_predict", "-1", 4096, 4096)]
    [InlineData("n_predict", "-5", 4096, 4096)]
    [InlineData("max_tokens", "-1e9", 4096, 4096)]
    [InlineData("n_predict", "0", 4096, 0)]
    [InlineData("n_predict", "-0", 4096, 0)]
    [InlineData("max_tokens", "99999999999999999999999999", 4096, 4096)]
    [InlineData("max_tokens", "1e300", 4096, 4096)]
    [InlineData("max_tokens", "9223372036854775807", 4096, 4096)]
    [InlineData("max_tokens", "1e9", null, 1_000_000_000)]
    [InlineData("max_tokens", "1e30", null, int.MaxValue)]
    [InlineData("n_predict", "-7", null, -1)]
    [InlineData("max_completion_tokens", "250.0", null, 250)]
    public void Patch_OutputLimit_EverySpellingAndForm_WrittenOnceClamped(string field, string raw, int? cap, int expected)
    {
        foreach (var route in new[] { Chat, Completion })
        {
            var body = route == Chat
                ? $$"""{"messages":[{"role":"user","content":"x"}],"{{field}}":{{raw}}}"""
                : $$"""{"prompt":"x","{{field}}":{{raw}}}""";

            var result = JsonNode.Parse(Patch(body, route, new ChatRequestSettings(null, cap)).Output)!.AsObject();

            var written = route == Completion ? "n_predict" : "max_tokens";
            Assert.Equal(expected, result[written]!.GetValue<int>());
            Assert.All(LimitSpellings.Where(s => s != written), other => Assert.False(result.ContainsKey(other), $"{route}: {other} left in {result.ToJsonString()}"));
            Assert.False(result.ContainsKey("id_slot"));
        }
    }

    /// <summary>llama-server obeys n_predict, else max_completion_tokens, else max_tokens (null counts as absent).</summary>
    [Theory]
    [InlineData("""{"prompt":"x","max_tokens":50,"n_predict":10}""", 10)]
    [InlineData("""{"prompt":"x","n_predict":10,"max_tokens":50}""", 10)]
    [InlineData("""{"prompt":"x","max_tokens":5,"max_completion_tokens":20}""", 20)]
    [InlineData("""{"prompt":"x","n_predict":null,"max_tokens":7}""", 7)]
    [InlineData("""{"prompt":"x","n_predict":null,"max_completion_tokens":null,"max_tokens":null}""", 4096)]
    [InlineData("""{"prompt":"x","max_tokens":1,"max_completion_tokens":1e9}""", 4096)]
    public void Patch_SeveralLimitSpellings_TheOneLlamaServerObeysIsClamped(string body, int expected)
    {
        foreach (var route in new[] { Chat, Completion })
        {
            var result = JsonNode.Parse(Patch(body, route, new ChatRequestSettings(null, 4096)).Output)!.AsObject();

            var written = route == Completion ? "n_predict" : "max_tokens";
            Assert.Equal(expected, result[written]!.GetValue<int>());
            Assert.Single(LimitSpellings, result.ContainsKey);
        }
    }

    [Theory]
    [InlineData("max_tokens", "\"1000\"")]
    [InlineData("max_completion_tokens", "\"many\"")]
    [InlineData("n_predict", "1.5")]
    [InlineData("max_tokens", "true")]
    [InlineData("max_tokens", "{}")]
    [InlineData("n_predict", "[10]")]
    public void Patch_OutputLimitNotAnInteger_FailsNamingTheField(string field, string raw)
    {
        foreach (var route in new[] { Chat, Completion })
        {
            var (outcome, written) = TryPatch($$"""{"prompt":"x","{{field}}":{{raw}}}""", route, new ChatRequestSettings(1, 4096));

            Assert.False(outcome.Success);
            Assert.Equal($"{field} must be an integer", outcome.Error);
            Assert.Equal(0, written);
        }
    }

    [Theory]
    [InlineData("/v1/chat/completions", "max_tokens")]
    [InlineData("/completion", "n_predict")]
    public void Patch_NoLimitInBody_CapAddedUnderTheRoutesSpelling(string path, string spelling)
    {
        var route = RouteOf(path);
        var result = JsonNode.Parse(Patch("""{"prompt":"x"}""", route, new ChatRequestSettings(null, 256)).Output)!.AsObject();

        Assert.Equal(256, result[spelling]!.GetValue<int>());
        Assert.Single(LimitSpellings, result.ContainsKey);
    }

    [Fact]
    public void Patch_NoLimitAndNoCap_NoLimitWritten()
    {
        var result = JsonNode.Parse(Patch("""{"prompt":"x"}""", Completion, new ChatRequestSettings(1, null)).Output)!.AsObject();

        Assert.DoesNotContain(LimitSpellings, result.ContainsKey);
    }

    [Theory]
    [InlineData("n", "1")]
    [InlineData("n", "1.0")]
    [InlineData("n", "null")]
    [InlineData("n_cmpl", "1")]
    [InlineData("n_cmpl", "1e0")]
    public void Patch_OneCompletion_AcceptedAndDropped(string field, string raw)
    {
        foreach (var route in new[] { Chat, Completion })
        {
            var result = JsonNode.Parse(Patch($$"""{"prompt":"x","{{field}}":{{raw}}}""", route, new ChatRequestSettings(2, null)).Output)!.AsObject();

            Assert.False(result.ContainsKey(field));
            Assert.Equal(2, result["id_slot"]!.GetValue<int>());
        }
    }

    [Theory]
    [InlineData("n", "4")]
    [InlineData("n", "2.0")]
    [InlineData("n", "0")]
    [InlineData("n", "-1")]
    [InlineData("n", "1.5")]
    [InlineData("n", "1e9")]
    [InlineData("n", "\"4\"")]
    [InlineData("n_cmpl", "4")]
    [InlineData("n_cmpl", "99999999999999999999")]
    [InlineData("n\\u005fcmpl", "3")]
    [InlineData("\\u006e", "4")]
    public void Patch_SeveralCompletions_FailsNamingTheField(string field, string raw)
    {
        var name = field.Replace("\\u005f", "_", StringComparison.Ordinal).Replace("\\u006e", "n", StringComparison.Ordinal);
        foreach (var route in new[] { Chat, Completion })
        {
            var (outcome, written) = TryPatch($$"""{"prompt":"x","{{field}}":{{raw}}}""", route, new ChatRequestSettings(0, null));

            Assert.False(outcome.Success);
            Assert.StartsWith(raw.StartsWith('"') ? $"{name} must be a number" : $"{name} must be 1", outcome.Error, StringComparison.Ordinal);
            Assert.Equal(0, written);
        }
    }

    [Theory]
    [InlineData("3")]
    [InlineData("-1")]
    [InlineData("1e9")]
    [InlineData("\"x\"")]
    [InlineData("{\"a\":1}")]
    [InlineData("null")]
    public void Patch_ClientIdSlotAndCachePrompt_ReplacedWhateverTheyHold(string raw)
    {
        foreach (var route in new[] { Chat, Completion })
        {
            var pinned = JsonNode.Parse(Patch($$"""{"prompt":"x","id_slot":{{raw}},"cache_prompt":{{raw}}}""", route, new ChatRequestSettings(1, null)).Output)!.AsObject();
            var unpinned = JsonNode.Parse(Patch($$"""{"prompt":"x","id\u005fslot":{{raw}},"cache_prompt":{{raw}}}""", route, new ChatRequestSettings(null, null)).Output)!.AsObject();

            Assert.Equal(1, pinned["id_slot"]!.GetValue<int>());
            Assert.True(pinned["cache_prompt"]!.GetValue<bool>());
            Assert.Equal(3, pinned.Count);
            Assert.False(unpinned.ContainsKey("id_slot"));
            Assert.True(unpinned["cache_prompt"]!.GetValue<bool>());
        }
    }

    [Fact]
    public void Patch_EscapedOwnedNames_OwnedLikeTheirPlainSpelling()
    {
        const string body = """{"prompt":"x","id\u005fslot":3,"cache\u005Fprompt":false,"max\u005ftokens":1e9,"\u006e\u005f\u0070\u0072obs":100}""";

        var result = JsonNode.Parse(Patch(body, Completion, new ChatRequestSettings(1, 64)).Output)!.AsObject();

        Assert.Equal("""{"prompt":"x","\u006e\u005f\u0070\u0072obs":20,"n_predict":64,"id_slot":1,"cache_prompt":true}""", Encoding.UTF8.GetString(Patch(body, Completion, new ChatRequestSettings(1, 64)).Output));
        Assert.Equal(20, result["n_probs"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("/v1/chat/completions", "n_probs", "1000", 20)]
    [InlineData("/v1/chat/completions", "n_probs", "5", 5)]
    [InlineData("/v1/chat/completions", "n_probs", "1e9", 20)]
    [InlineData("/v1/chat/completions", "top_logprobs", "100", 20)]
    [InlineData("/completion", "n_probs", "21", 20)]
    [InlineData("/completion", "logprobs", "150000", 20)]
    [InlineData("/completion", "logprobs", "3", 3)]
    public void Patch_LogProbabilities_CappedAt20(string path, string field, string raw, int expected)
    {
        var result = JsonNode.Parse(Patch($$"""{"prompt":"x","{{field}}":{{raw}}}""", RouteOf(path), new ChatRequestSettings(0, null)).Output)!.AsObject();

        Assert.Equal(expected, result[field]!.GetValue<double>());
    }

    [Fact]
    public void Patch_ChatLogprobsBoolean_Kept()
    {
        var result = JsonNode.Parse(Patch("""{"messages":[],"logprobs":true}""", Chat, new ChatRequestSettings(0, null)).Output)!.AsObject();

        Assert.True(result["logprobs"]!.GetValue<bool>());
    }

    [Theory]
    [InlineData("null")]
    [InlineData("[]")]
    [InlineData("[ ]")]
    public void Patch_EmptyLora_Dropped(string raw)
    {
        var result = JsonNode.Parse(Patch($$"""{"prompt":"x","lora":{{raw}}}""", Completion, new ChatRequestSettings(0, null)).Output)!.AsObject();

        Assert.False(result.ContainsKey("lora"));
    }

    [Theory]
    [InlineData("""[{"id":0,"scale":1.0}]""", "lora is not available through the gateway")]
    [InlineData("{}", "lora must be an array")]
    [InlineData("\"a\"", "lora must be an array")]
    public void Patch_Lora_Fails(string raw, string expected)
    {
        var (outcome, _) = TryPatch($$"""{"prompt":"x","lora":{{raw}}}""", Completion, new ChatRequestSettings(0, null));

        Assert.False(outcome.Success);
        Assert.StartsWith(expected, outcome.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("backend_sampling", "true")]
    [InlineData("return_progress", "true")]
    [InlineData("response_fields", """["content"]""")]
    [InlineData("response_fields", "\"x\"")]
    public void Patch_FieldsTheGatewayNeedsAtDefault_Dropped(string field, string raw)
    {
        foreach (var route in new[] { Chat, Completion })
        {
            var result = JsonNode.Parse(Patch($$"""{"prompt":"x","{{field}}":{{raw}},"temperature":0.2}""", route, new ChatRequestSettings(0, null)).Output)!.AsObject();

            Assert.False(result.ContainsKey(field));
            Assert.Equal(0.2, result["temperature"]!.GetValue<double>());
        }
    }

    [Theory]
    [InlineData("\"x\"")]
    [InlineData("""["only one"]""")]
    [InlineData("[1,2,3]")]
    [InlineData("""["mixed",1,"tokens"]""")]
    [InlineData("""[{"prompt_string":"x"}]""")]
    public void Patch_OnePrompt_KeptVerbatim(string raw)
    {
        var (_, output) = Patch($$"""{"prompt":{{raw}}}""", Completion, new ChatRequestSettings(0, null));

        Assert.StartsWith($$"""{"prompt":{{raw}},""", Encoding.UTF8.GetString(output), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""["a","b"]""")]
    [InlineData("[[1,2],[3]]")]
    [InlineData("""[{"prompt_string":"a"},"b"]""")]
    public void Patch_SeveralPrompts_Fails(string raw)
    {
        var (outcome, _) = TryPatch($$"""{"prompt":{{raw}}}""", Completion, new ChatRequestSettings(0, null));

        Assert.False(outcome.Success);
        Assert.StartsWith("prompt must be one prompt", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Patch_CompletionBody_PromptBytesKeptVerbatim()
    {
        const string prompt = "\"prompt\" :  \"<|im_start|>user\\n\\u00e9 caf\u00e9<|im_end|>\\n\"";
        var (_, output) = Patch("{ " + prompt + " , \"stream\": false }", Completion, new ChatRequestSettings(0, null));

        Assert.Contains(prompt, Encoding.UTF8.GetString(output));
    }

    [Fact]
    public void Patch_UnknownAndPassedFields_CopiedByteForByte()
    {
        const string body = """{ "messages" : [ {"role":"user","content":"a\u00e9"} ] ,"temperature":  1E-1, "x-custom" : {"deep":[1, 2]}, "stop":["\n"] }""";

        var (_, output) = Patch(body, Chat, new ChatRequestSettings(2, null));

        Assert.Equal("""{"messages" : [ {"role":"user","content":"a\u00e9"} ],"temperature":  1E-1,"x-custom" : {"deep":[1, 2]},"stop":["\n"],"id_slot":2,"cache_prompt":true}""", Encoding.UTF8.GetString(output));
    }

    [Fact]
    public void Patch_EmptyObject_OnlyOwnFields()
    {
        var (_, output) = Patch("{}", Chat, new ChatRequestSettings(5, null));

        Assert.Equal("""{"id_slot":5,"cache_prompt":true}""", Encoding.UTF8.GetString(output));
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("{\"a\":")]
    [InlineData("{} {}")]
    [InlineData("")]
    public void Patch_NotOneJsonObject_Fails(string body)
    {
        var (outcome, written) = TryPatch(body, Chat, default);

        Assert.False(outcome.Success);
        Assert.Equal(0, written);
    }

    private static ApiRoute RouteOf(string path) => path == "/completion" ? Completion : Chat;

    private static (TranslationOutcome Outcome, int Written) TryPatch(string body, ApiRoute route, in ChatRequestSettings settings)
    {
        var output = new ArrayBufferWriter<byte>();
        var outcome = OpenAiRequestPatcher.Patch(Encoding.UTF8.GetBytes(body), route, settings, output);
        return (outcome, output.WrittenCount);
    }

    private static (TranslationOutcome Outcome, byte[] Output) Patch(string body, ApiRoute route, in ChatRequestSettings settings)
    {
        var output = new ArrayBufferWriter<byte>();
        var outcome = OpenAiRequestPatcher.Patch(Encoding.UTF8.GetBytes(body), route, settings, output);
        Assert.True(outcome.Success, outcome.Error);
        return (outcome, output.WrittenSpan.ToArray());
    }
}
