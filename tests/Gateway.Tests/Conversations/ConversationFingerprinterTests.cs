using System.Text;
using System.Text.Json.Nodes;
using LlamaGateway.Conversations;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Normalization;
using LlamaGateway.Tests.Support;
using static LlamaGateway.Tests.Conversations.FingerprintRun;
using static LlamaGateway.Tests.Normalization.NormalizerRun;

namespace LlamaGateway.Tests.Conversations;

public sealed class ConversationFingerprinterTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Compute_SecondTurn_ChainExtendsFirstTurnChain(bool fold)
    {
        var turn1 = Recorded("turn1-first", Replace(fold));
        var turn2 = Recorded("turn2-continue", Replace(fold));

        Assert.Equal(fold ? 1 : 2, turn1.Chain.Length);
        Assert.Equal(fold ? 3 : 4, turn2.Chain.Length);
        Assert.Equal(turn1.PrefixKey, turn2.PrefixKey);
        Assert.Equal(turn1.Chain, turn2.Chain[..turn1.Chain.Length]);
        Assert.Equal(turn1.Tip, turn2.Chain[turn1.Chain.Length - 1]);
        Assert.NotEqual(turn1.Tip, turn2.Tip);
    }

    [Fact]
    public void Compute_CacheControlMovedOrRemoved_SameHashes()
    {
        var original = Recorded("turn2-continue", Replace());
        var noMarkers = Of(Edited("turn2-continue", node => RemoveAll(node, "cache_control")), ApiRoute.Messages, Replace());
        var moved = Of(
            Edited("turn2-continue", node =>
            {
                RemoveAll(node, "cache_control");
                node["messages"]![0]!["content"]![0]!["cache_control"] = new JsonObject { ["type"] = "ephemeral" };
                node["system"]![0]!["cache_control"] = new JsonObject { ["type"] = "ephemeral", ["ttl"] = "1h" };
                node["tools"]![3]!["cache_control"] = new JsonObject { ["type"] = "ephemeral" };
            }),
            ApiRoute.Messages,
            Replace());

        Assert.Equal(original.PrefixKey, noMarkers.PrefixKey);
        Assert.Equal(original.Chain, noMarkers.Chain);
        Assert.Equal(original.PrefixKey, moved.PrefixKey);
        Assert.Equal(original.Chain, moved.Chain);
    }

    [Fact]
    public void Compute_OneCharacterChanged_ChainDivergesFromThatMessage()
    {
        var original = Recorded("turn2-continue", Replace());
        var edited = Of(Edited("turn2-continue", node => node["messages"]![2]!["content"]![0]!["text"] = "Hello from capture!"), ApiRoute.Messages, Replace());

        Assert.Equal(original.PrefixKey, edited.PrefixKey);
        Assert.Equal(original.Chain[0], edited.Chain[0]);
        Assert.NotEqual(original.Chain[1], edited.Chain[1]);
        Assert.NotEqual(original.Chain[2], edited.Chain[2]);
    }

    [Fact]
    public void Compute_OtherConversationSameProject_SamePrefixDifferentFirstLink()
    {
        var turn1 = Recorded("turn1-first", Replace());
        var conv2 = Recorded("conv2-turn1", Replace());

        Assert.Equal(turn1.PrefixKey, conv2.PrefixKey);
        Assert.NotEqual(turn1.Chain[0], conv2.Chain[0]);
    }

    [Fact]
    public void Compute_OtherConversationWithoutNormalization_DifferentPrefix()
    {
        var turn1 = Recorded("turn1-first", Settings(BillingHeaderMode.Keep));
        var conv2 = Recorded("conv2-turn1", Settings(BillingHeaderMode.Keep));

        Assert.NotEqual(turn1.PrefixKey, conv2.PrefixKey);
    }

    public static TheoryData<string> BillingVariants => new()
    {
        "cc_version=2.1.328.b7f; cc_entrypoint=sdk-cli; cch=e2224;",
        "cc_version=2.1.328.0aa; cc_entrypoint=sdk-cli;",
        "cc_version=2.1.328.b7f; cc_entrypoint=cli; cch=56445; cc_workload=cron;",
        "cc_version=2.1.329.fff; cc_entrypoint=sdk-cli; cch=00000; new_field=1;",
    };

    [Theory]
    [MemberData(nameof(BillingVariants))]
    public void Compute_BillingLineVariant_SameHashesOnceNormalized(string value)
    {
        var variant = Edited("turn1-first", node => node["system"]![0]!["text"] = "x-anthropic-billing-header: " + value);

        foreach (var mode in new[] { BillingHeaderMode.Replace, BillingHeaderMode.Strip })
        {
            var original = Recorded("turn1-first", Settings(mode));
            var changed = Of(variant, ApiRoute.Messages, Settings(mode));
            Assert.Equal(original.PrefixKey, changed.PrefixKey);
            Assert.Equal(original.Chain, changed.Chain);
        }

        var kept = Of(variant, ApiRoute.Messages, Settings(BillingHeaderMode.Keep));
        Assert.NotEqual(Recorded("turn1-first", Settings(BillingHeaderMode.Keep)).PrefixKey, kept.PrefixKey);
    }

    [Fact]
    public void Compute_BillingLineAsSystemStringPrefix_SameAsOtherVariantsOfThatForm()
    {
        static string Body(string line) => Fill("""{"system":@0,"messages":[{"role":"user","content":"hi"}]}""", line + "\nYou are Claude.");

        var one = Of(Body("x-anthropic-billing-header: cc_version=2.1.39.c39; cc_entrypoint=cli; cch=56445;"));
        var two = Of(Body("x-anthropic-billing-header: cc_version=2.1.40.d00; cc_entrypoint=cli; cch=99999;"));

        Assert.Equal(one.PrefixKey, two.PrefixKey);
        Assert.Equal(one.Chain, two.Chain);
    }

    [Fact]
    public void Compute_StringContent_EqualsSingleTextBlock()
    {
        var text = Of("""{"messages":[{"role":"user","content":"hello"},{"role":"assistant","content":"hi"}]}""");
        var blocks = Of("""{"messages":[{"role":"user","content":[{"type":"text","text":"hello","cache_control":{"type":"ephemeral"}}]},{"content":[{"text":"hi","type":"text","citations":[{"cited_text":"x"}]}],"role":"assistant"}]}""");

        Assert.Equal(text.Chain, blocks.Chain);
    }

    [Fact]
    public void Compute_SystemString_EqualsSystemTextBlocks()
    {
        var text = Of("""{"system":"You are X","messages":[]}""");
        var blocks = Of("""{"system":[{"type":"text","text":"You are X","cache_control":{"type":"ephemeral"}}],"messages":[]}""");
        var other = Of("""{"system":[{"type":"text","text":"You are Y"}],"messages":[]}""");
        var split = Of("""{"system":[{"type":"text","text":"You are"},{"type":"text","text":" X"}],"messages":[]}""");

        Assert.Equal(text.PrefixKey, blocks.PrefixKey);
        Assert.NotEqual(text.PrefixKey, other.PrefixKey);
        Assert.NotEqual(text.PrefixKey, split.PrefixKey);
    }

    [Theory]
    [InlineData("""{"type":"tool_result","tool_use_id":"t1","content":"out"}""", """{"tool_use_id":"t1","type":"tool_result","content":[{"type":"text","text":"out"}],"is_error":false}""", true)]
    [InlineData("""{"type":"tool_result","tool_use_id":"t1","content":"out"}""", """{"type":"tool_result","tool_use_id":"t1","content":"out","is_error":true}""", false)]
    [InlineData("""{"type":"tool_result","tool_use_id":"t1","content":"out"}""", """{"type":"tool_result","tool_use_id":"t2","content":"out"}""", false)]
    [InlineData("""{"type":"tool_use","id":"t1","name":"Read","input":{"a":1}}""", """{"type":"tool_use","id":"t1","name":"Read","input":{"a":1},"cache_control":{"type":"ephemeral"}}""", true)]
    [InlineData("""{"type":"tool_use","id":"t1","name":"Read","input":{"a":1}}""", """{"type":"tool_use","id":"t1","name":"Read","input":{"a":2}}""", false)]
    [InlineData("""{"type":"tool_use","id":"t1","name":"Read","input":{"a":1}}""", """{"type":"tool_use","id":"t1","name":"Write","input":{"a":1}}""", false)]
    [InlineData("""{"type":"thinking","thinking":"hmm","signature":"abc"}""", """{"type":"thinking","thinking":"hmm","signature":"xyz"}""", true)]
    [InlineData("""{"type":"thinking","thinking":"hmm"}""", """{"type":"thinking","thinking":"hmmm"}""", false)]
    [InlineData("""{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}""", """{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAB"}}""", false)]
    [InlineData("""{"type":"text","text":"a"}""", """{"type":"thinking","thinking":"a"}""", false)]
    [InlineData("""{"type":"custom_block","value":1}""", """{"type":"custom_block","value":2}""", false)]
    [InlineData("""{"type":"custom_block","value":1,"cache_control":{}}""", """{"value":1,"type":"custom_block"}""", true)]
    public void Compute_ContentBlockVariants_EqualOnlyWhenPromptContentEqual(string first, string second, bool equal)
    {
        var one = Of($$"""{"messages":[{"role":"user","content":[{{first}}]}]}""");
        var two = Of($$"""{"messages":[{"role":"user","content":[{{second}}]}]}""");

        Assert.Equal(equal, one.Tip == two.Tip);
    }

    [Fact]
    public void Compute_RoleChanged_DifferentLink()
    {
        var user = Of("""{"messages":[{"role":"user","content":"a"}]}""");
        var assistant = Of("""{"messages":[{"role":"assistant","content":"a"}]}""");

        Assert.NotEqual(user.Tip, assistant.Tip);
    }

    [Fact]
    public void Compute_Tools_OrderAndSchemaMatterMarkersDoNot()
    {
        const string A = """{"name":"A","description":"does a","input_schema":{"type":"object","properties":{"x":{"type":"string"}}}}""";
        const string B = """{"name":"B","description":"does b","input_schema":{"type":"object"}}""";
        const string AMarked = """{"input_schema":{"type":"object","properties":{"x":{"type":"string"}}},"name":"A","description":"does a","cache_control":{"type":"ephemeral"}}""";
        const string AChanged = """{"name":"A","description":"does a","input_schema":{"type":"object","properties":{"x":{"type":"number"}}}}""";

        var ab = Of($$"""{"tools":[{{A}},{{B}}],"messages":[]}""");

        Assert.Equal(2, ab.ToolCount);
        Assert.Equal(ab.PrefixKey, Of($$"""{"tools":[{{AMarked}},{{B}}],"messages":[]}""").PrefixKey);
        Assert.NotEqual(ab.PrefixKey, Of($$"""{"tools":[{{B}},{{A}}],"messages":[]}""").PrefixKey);
        Assert.NotEqual(ab.PrefixKey, Of($$"""{"tools":[{{AChanged}},{{B}}],"messages":[]}""").PrefixKey);
        Assert.NotEqual(ab.PrefixKey, Of($$"""{"tools":[{{A}}],"messages":[]}""").PrefixKey);
    }

    [Fact]
    public void Compute_CacheControlNestedInValue_SameAsWithout()
    {
        // The value with a nested cache_control is rebuilt token by token; the one without is hashed in place.
        var marked = Of("""{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Run","input":{"a":1,"cache_control":{"type":"ephemeral"},"b":[1,{"cache_control":{},"c":"x"}]}}]}]}""");
        var plain = Of("""{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Run","input":{"a":1,"b":[1,{"c":"x"}]}}]}]}""");
        var other = Of("""{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Run","input":{"a":1,"b":[1,{"c":"y"}]}}]}]}""");

        Assert.Equal(plain.Tip, marked.Tip);
        Assert.Equal(plain.PromptChars, marked.PromptChars);
        Assert.NotEqual(plain.Tip, other.Tip);
    }

    [Fact]
    public void Compute_WhitespaceAroundTokens_SameAsCompact()
    {
        // Bodies are fingerprinted after normalization (compact), but a body with whitespace must not differ.
        const string Compact = """{"system":"S","tools":[{"name":"A","input_schema":{"type":"object","properties":{"x":{"type":"number"}}}}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}],"extra":{"k":[1,2]}}]}]}""";
        const string Spaced = """
            { "system" : "S", "tools" : [ { "name" : "A", "input_schema" : { "type" : "object", "properties" : { "x" : { "type" : "number" } } } } ],
              "messages" : [ { "role" : "user", "content" : [ { "type" : "tool_result", "tool_use_id" : "t", "content" : [ { "type" : "text", "text" : "r" } ], "extra" : { "k" : [ 1 , 2 ] } } ] } ] }
            """;

        var compact = ConversationFingerprinter.Compute(Encoding.UTF8.GetBytes(Compact), ApiRoute.Messages)!;
        var spaced = ConversationFingerprinter.Compute(Encoding.UTF8.GetBytes(Spaced), ApiRoute.Messages)!;

        Assert.Equal(compact.PrefixKey, spaced.PrefixKey);
        Assert.Equal(compact.Chain, spaced.Chain);
        Assert.Equal(compact.PromptChars, spaced.PromptChars);
    }

    [Fact]
    public void Compute_EscapedAndNonAsciiText_CountsDecodedCharacters()
    {
        // JSON text as written in the body: escapes of every kind, raw 2-, 3- and 4-byte UTF-8.
        const string Text = """line\none \u00e9t\u00e9 \ud83d\ude00 raw é 😀 中文 \\ \"q\" end""";
        var decoded = System.Text.Json.JsonSerializer.Deserialize<string>("\"" + Text + "\"")!;

        var fingerprint = Of($$"""{"system":[{"type":"text","text":"{{Text}}"}],"messages":[]}""");

        Assert.Equal(decoded.Length, fingerprint.SystemChars);
    }

    [Fact]
    public void Compute_RecordedRequest_FillsRequestFacts()
    {
        var body = Fixtures.RecordedBody("turn2-continue");
        var node = JsonNode.Parse(NormalizerRun.Ok(body, ApiRoute.Messages, Replace()))!;
        var systemChars = node["system"]!.AsArray().Sum(b => ((string)b!["text"]!).Length);
        var messageChars = node["messages"]!.AsArray().SelectMany(m => m!["content"]!.AsArray()).Sum(b => ((string?)b!["text"])?.Length ?? 0);

        var fingerprint = Recorded("turn2-continue", Replace());

        Assert.Equal("claude-opus-5-5", fingerprint.Model);
        Assert.Equal(128000, fingerprint.MaxTokens);
        Assert.Equal(12, fingerprint.ToolCount);
        Assert.Equal(systemChars, fingerprint.SystemChars);
        Assert.InRange(fingerprint.PromptChars, systemChars + messageChars + 1, body.Length);
        Assert.False(fingerprint.LastUserMessageIsQuotaProbe);
    }

    [Theory]
    [InlineData("""{"max_tokens":1,"messages":[{"role":"user","content":"quota"}]}""", true)]
    [InlineData("""{"max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"quota"}]}]}""", true)]
    [InlineData("""{"messages":[{"role":"user","content":"quota please"}]}""", false)]
    [InlineData("""{"messages":[{"role":"assistant","content":"quota"}]}""", false)]
    [InlineData("""{"messages":[{"role":"user","content":"quota"},{"role":"assistant","content":"ok"}]}""", false)]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"text","text":"quota"},{"type":"text","text":"x"}]}]}""", false)]
    public void Compute_QuotaProbe_Recognized(string json, bool probe)
    {
        Assert.Equal(probe, Of(json).LastUserMessageIsQuotaProbe);
    }

    [Theory]
    [InlineData(nameof(ApiRoute.Messages), """{"model":"m","max_tokens":64,"messages":[]}""", 64)]
    [InlineData(nameof(ApiRoute.CountTokens), """{"model":"m","messages":[]}""", -1)]
    [InlineData(nameof(ApiRoute.ChatCompletions), """{"model":"m","max_completion_tokens":99,"messages":[]}""", 99)]
    [InlineData(nameof(ApiRoute.ChatCompletions), """{"model":"m","max_tokens":7,"messages":[]}""", 7)]
    [InlineData(nameof(ApiRoute.Completion), """{"model":"m","n_predict":5,"prompt":"p"}""", 5)]
    [InlineData(nameof(ApiRoute.Completion), """{"model":"m","n_predict":99999999999,"prompt":"p"}""", int.MaxValue)]
    public void Compute_MaxTokensFields_Read(string routeName, string json, int expected)
    {
        var fingerprint = Of(Encoding.UTF8.GetBytes(json), Enum.Parse<ApiRoute>(routeName), Replace());

        Assert.Equal(expected, fingerprint.MaxTokens);
        Assert.Equal("m", fingerprint.Model);
    }

    [Fact]
    public void Compute_CountTokensAndMessages_SameKeys()
    {
        var messages = Recorded("turn1-first", Replace());
        var count = Of(Fixtures.RecordedBody("turn1-first"), ApiRoute.CountTokens, Replace());

        Assert.Equal(messages.PrefixKey, count.PrefixKey);
        Assert.Equal(messages.Chain, count.Chain);
    }

    [Fact]
    public void Compute_ChatLeadingSystemMessages_FormPrefixChainStartsAfter()
    {
        const string Tools = """[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"}}}]""";
        var one = Of($$"""{"messages":[{"role":"system","content":"You are X"},{"role":"user","content":"a"}],"tools":{{Tools}}}""", ApiRoute.ChatCompletions);
        var two = Of($$$"""{"messages":[{"role":"system","content":[{"type":"text","text":"You are X"}]},{"role":"user","content":"a"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}],"tools":{{{Tools}}}}""", ApiRoute.ChatCompletions);
        var otherSystem = Of($$"""{"messages":[{"role":"system","content":"You are Y"},{"role":"user","content":"a"}],"tools":{{Tools}}}""", ApiRoute.ChatCompletions);
        var otherCall = Of($$$"""{"messages":[{"role":"system","content":"You are X"},{"role":"user","content":"a"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]}],"tools":{{{Tools}}}}""", ApiRoute.ChatCompletions);

        Assert.Single(one.Chain);
        Assert.Equal(3, two.Chain.Length);
        Assert.Equal(1, one.ToolCount);
        Assert.Equal("You are X".Length, one.SystemChars);
        Assert.Equal(one.PrefixKey, two.PrefixKey);
        Assert.Equal(one.Chain[0], two.Chain[0]);
        Assert.NotEqual(one.PrefixKey, otherSystem.PrefixKey);
        Assert.NotEqual(two.Chain[1], otherCall.Chain[1]);
    }

    [Fact]
    public void Compute_CompletionPromptExtended_ExtendsChain()
    {
        var baseText = string.Concat(Enumerable.Range(0, 600).Select(i => $"line {i} é😀\n"));
        // Never cut between the two halves of an emoji.
        static string Cut(string text, int length) => text[..(char.IsHighSurrogate(text[length - 1]) ? length + 1 : length)];
        var shortPrompt = Cut(baseText, 3000);
        var longPrompt = Cut(baseText, 5200);

        var shorter = Of(Fill("""{"prompt":@0}""", shortPrompt), ApiRoute.Completion);
        var longer = Of(Fill("""{"prompt":@0}""", longPrompt), ApiRoute.Completion);

        Assert.Equal(shortPrompt.Length, shorter.PromptChars);
        Assert.Equal(longPrompt.Length, longer.PromptChars);
        Assert.Single(shorter.Chain);
        Assert.Equal(4, longer.Chain.Length);
        Assert.Equal(shorter.PrefixKey, longer.PrefixKey);
        Assert.Equal(shorter.Chain[0], longer.Chain[0]);
    }

    [Fact]
    public void Compute_CompletionPromptsDifferingEarlyOrShort_DifferentPrefix()
    {
        var text = new string('a', 2000);

        var one = Of(Fill("""{"prompt":@0}""", text), ApiRoute.Completion);
        var two = Of(Fill("""{"prompt":@0}""", "b" + text[1..]), ApiRoute.Completion);
        var lateDiff = Of(Fill("""{"prompt":@0}""", text[..1500] + "b" + text[1501..]), ApiRoute.Completion);
        var shortOne = Of("""{"prompt":"hello"}""", ApiRoute.Completion);
        var shortTwo = Of("""{"prompt":"hellO"}""", ApiRoute.Completion);

        Assert.NotEqual(one.PrefixKey, two.PrefixKey);
        Assert.Equal(one.PrefixKey, lateDiff.PrefixKey);
        Assert.Empty(shortOne.Chain);
        Assert.NotEqual(shortOne.PrefixKey, shortTwo.PrefixKey);
    }

    [Fact]
    public void Compute_CompletionBillingLineVariants_SamePrefixOnceNormalized()
    {
        static string Body(string value) => Fill("""{"prompt":@0}""", "<|im_start|>system\nx-anthropic-billing-header: " + value + "\nYou are Claude.\n" + new string('z', 3000));

        var one = Of(Body("cc_version=2.1.63.a43; cch=e2224;"), ApiRoute.Completion);
        var two = Of(Body("cc_version=2.1.63.b00; cch=11111;"), ApiRoute.Completion);

        Assert.Equal(one.PrefixKey, two.PrefixKey);
        Assert.Equal(one.Chain, two.Chain);
    }

    [Theory]
    [InlineData("""{"messages":""")]
    [InlineData("""[{"role":"user"}]""")]
    [InlineData("\"x\"")]
    [InlineData("""{"messages":5}""")]
    [InlineData("""{"messages":{"role":"user"}}""")]
    [InlineData("""{"model":"m"} trailing""")]
    [InlineData("")]
    public void Compute_UnparseableBody_Null(string json)
    {
        Assert.Null(ConversationFingerprinter.Compute(Encoding.UTF8.GetBytes(json), ApiRoute.Messages));
    }

    [Fact]
    public void Compute_InvalidUtf8_NullNotThrow()
    {
        byte[] body = [.. """{"model":"m"""u8, 0xFF, .. "\",\"messages\":[]}"u8];

        Assert.Null(ConversationFingerprinter.Compute(body, ApiRoute.Messages));
    }

    [Fact]
    public void Compute_SameBodyTwice_SameFingerprint()
    {
        var one = Recorded("conv2-tool-result", Replace());
        var two = Recorded("conv2-tool-result", Replace());

        Assert.Equal(one.PrefixKey, two.PrefixKey);
        Assert.Equal(one.Chain, two.Chain);
        Assert.Equal(one.PromptChars, two.PromptChars);
    }

    [Fact]
    public void Compute_ToolResultTurn_ExtendsSameConversationsFirstTurn()
    {
        var first = Recorded("conv2-turn1", Replace());
        var next = Recorded("conv2-tool-result", Replace());

        Assert.Equal(first.PrefixKey, next.PrefixKey);
        Assert.Equal(first.Chain, next.Chain[..first.Chain.Length]);
    }

    private static void RemoveAll(JsonNode node, string property)
    {
        switch (node)
        {
            case JsonObject obj:
                obj.Remove(property);
                foreach (var child in obj.Select(p => p.Value).OfType<JsonNode>().ToList())
                {
                    RemoveAll(child, property);
                }

                break;
            case JsonArray array:
                foreach (var child in array.OfType<JsonNode>())
                {
                    RemoveAll(child, property);
                }

                break;
        }
    }
}
