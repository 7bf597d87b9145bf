using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using LlamaGateway.Translation;

namespace LlamaGateway.Tests.Translation;

public sealed class OpenAiRequestPatcherTests
{
    [Fact]
    public void Patch_ChatBody_SlotAndCachePromptReplacedEverythingElseKept()
    {
        const string body = """{"model":"qwen","messages":[{"role":"user","content":"hi"}],"id_slot":0,"cache_prompt":false,"temperature":0.5,"stream":true}""";

        var (outcome, output) = Patch(body, new ChatRequestSettings(3, null));
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
        var (_, output) = Patch(body, new ChatRequestSettings(2, null, IsolatePrompt: true));
        var result = JsonNode.Parse(output)!.AsObject();

        Assert.False(result["cache_prompt"]!.GetValue<bool>());
        Assert.Equal(2, result["id_slot"]!.GetValue<int>());
        Assert.Single(result, p => p.Key == "cache_prompt");
    }

    [Theory]
    [InlineData("max_tokens", 128000, 4096)]
    [InlineData("max_tokens", 100, 100)]
    [InlineData("max_completion_tokens", 50000, 4096)]
    [InlineData("n_predict", -1, 4096)]
    [InlineData("n_predict", 10, 10)]
    public void Patch_TokenLimit_ClampedToTheSetting(string field, int requested, int expected)
    {
        var (_, output) = Patch($$"""{"prompt":"x","{{field}}":{{requested}}}""", new ChatRequestSettings(null, 4096));
        var result = JsonNode.Parse(output)!.AsObject();

        Assert.Equal(expected, result[field]!.GetValue<int>());
        Assert.False(result.ContainsKey("id_slot"));
    }

    [Fact]
    public void Patch_NoTokenLimitInBody_MaxTokensAdded()
    {
        var (_, output) = Patch("""{"prompt":"x"}""", new ChatRequestSettings(null, 256));

        Assert.Equal(256, JsonNode.Parse(output)!["max_tokens"]!.GetValue<int>());
    }

    [Fact]
    public void Patch_NoLimitSetting_LimitsUntouched()
    {
        var (_, output) = Patch("""{"prompt":"x","n_predict":-1}""", new ChatRequestSettings(1, null));

        Assert.Equal(-1, JsonNode.Parse(output)!["n_predict"]!.GetValue<int>());
    }

    [Fact]
    public void Patch_CompletionBody_PromptBytesKeptVerbatim()
    {
        const string prompt = "\"prompt\" :  \"<|im_start|>user\\n\\u00e9 caf\u00e9<|im_end|>\\n\"";
        var (_, output) = Patch("{ " + prompt + " , \"stream\": false }", new ChatRequestSettings(0, null));

        Assert.Contains(prompt, Encoding.UTF8.GetString(output));
    }

    [Fact]
    public void Patch_EmptyObject_OnlyOwnFields()
    {
        var (_, output) = Patch("{}", new ChatRequestSettings(5, null));

        Assert.Equal("""{"id_slot":5,"cache_prompt":true}""", Encoding.UTF8.GetString(output));
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("{\"a\":")]
    [InlineData("{} {}")]
    [InlineData("")]
    public void Patch_NotOneJsonObject_Fails(string body)
    {
        var output = new ArrayBufferWriter<byte>();

        var outcome = OpenAiRequestPatcher.Patch(Encoding.UTF8.GetBytes(body), default, output);

        Assert.False(outcome.Success);
        Assert.Equal(0, output.WrittenCount);
    }

    private static (TranslationOutcome Outcome, byte[] Output) Patch(string body, in ChatRequestSettings settings)
    {
        var output = new ArrayBufferWriter<byte>();
        var outcome = OpenAiRequestPatcher.Patch(Encoding.UTF8.GetBytes(body), settings, output);
        Assert.True(outcome.Success, outcome.Error);
        return (outcome, output.WrittenSpan.ToArray());
    }
}
