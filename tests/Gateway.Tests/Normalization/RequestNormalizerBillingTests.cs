using System.Text;
using System.Text.Json.Nodes;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Support;
using static LlamaGateway.Tests.Normalization.NormalizerRun;

namespace LlamaGateway.Tests.Normalization;

public sealed class RequestNormalizerBillingTests
{
    private const string Instructions = "You are a Claude agent, built on Anthropic's Claude Agent SDK.";

    /// <summary>Billing values seen from real clients, plus the extensible forms the line may take.</summary>
    public static TheoryData<string> Values => new()
    {
        "cc_version=2.1.63.a43; cc_entrypoint=cli; cch=e2224;",
        "cc_version=2.1.39.c39; cc_entrypoint=cli; cch=56445;",
        "cc_version=2.1.328.ccf; cc_entrypoint=sdk-cli;",
        "cc_version=2.1.63.a43; cc_entrypoint=sdk-cli; cch=e2224; cc_workload=cron;",
        "cc_version=2.1.70.f00; cc_entrypoint=cli; cch=0a1b2; cc_workload=x; future_field=1; another=two words;",
        "",
    };

    [Theory]
    [MemberData(nameof(Values))]
    public void Normalize_LineAloneInSystemBlockZero_ReplacesWholeValue(string value)
    {
        var json = Fill("""{"model":"m","system":[{"type":"text","text":@0},{"type":"text","text":@1,"cache_control":{"type":"ephemeral"}}],"messages":[]}""", "x-anthropic-billing-header: " + value, Instructions);

        var (outcome, body) = Run(Encoding.UTF8.GetBytes(json), ApiRoute.Messages, Replace());

        Assert.True(outcome.Success, outcome.Error);
        Assert.Equal(1, outcome.BillingLinesRewritten);
        var system = JsonNode.Parse(body)!["system"]!.AsArray();
        Assert.Equal(CanonicalLine, (string)system[0]!["text"]!);
        Assert.Equal(Instructions, (string)system[1]!["text"]!);
        Assert.Equal("ephemeral", (string)system[1]!["cache_control"]!["type"]!);
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void Normalize_LineFirstInSystemBlockWithMoreText_ReplacesOnlyFirstLine(string value)
    {
        var json = Fill("""{"system":[{"type":"text","text":@0}],"messages":[]}""", "x-anthropic-billing-header: " + value + "\n" + Instructions + "\nsecond line");

        var node = OkNode(json, ApiRoute.CountTokens, Replace());

        Assert.Equal(CanonicalLine + "\n" + Instructions + "\nsecond line", (string)node["system"]![0]!["text"]!);
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void Normalize_SystemStringStartingWithLine_ReplacesFirstLine(string value)
    {
        var json = Fill("""{"system":@0,"messages":[]}""", "x-anthropic-billing-header: " + value + "\n" + Instructions);

        var node = OkNode(json, ApiRoute.Messages, Replace());

        Assert.Equal(CanonicalLine + "\n" + Instructions, (string)node["system"]!);
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void Normalize_ChatSystemMessageString_ReplacesFirstLine(string value)
    {
        var json = Fill("""{"messages":[{"role":"system","content":@0},{"role":"user","content":"hi"}]}""", "x-anthropic-billing-header: " + value + "\n" + Instructions);

        var node = OkNode(json, ApiRoute.ChatCompletions, Replace());

        Assert.Equal(CanonicalLine + "\n" + Instructions, (string)node["messages"]![0]!["content"]!);
        Assert.Equal("hi", (string)node["messages"]![1]!["content"]!);
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void Normalize_ChatSystemContentParts_ReplacesLineInPart(string value)
    {
        var json = Fill("""{"messages":[{"role":"system","content":[{"type":"text","text":@0},{"type":"text","text":@1}]},{"role":"user","content":"hi"}]}""", "x-anthropic-billing-header: " + value, Instructions);

        var node = OkNode(json, ApiRoute.ChatCompletions, Replace());

        var parts = node["messages"]![0]!["content"]!.AsArray();
        Assert.Equal(CanonicalLine, (string)parts[0]!["text"]!);
        Assert.Equal(Instructions, (string)parts[1]!["text"]!);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Normalize_ChatDeveloperMessage_ReplacesFirstLine(bool fold)
    {
        var json = Fill("""{"messages":[{"role":"developer","content":@0},{"role":"user","content":"hi"}]}""", "x-anthropic-billing-header: cc_version=1.2.3.abc; cch=12345;\n" + Instructions);

        var node = OkNode(json, ApiRoute.ChatCompletions, Replace(fold));

        Assert.Equal(CanonicalLine + "\n" + Instructions, (string)node["messages"]![0]!["content"]!);
    }

    [Fact]
    public void Normalize_ChatRoleAfterContent_StillFindsSystemMessage()
    {
        var json = """{"messages":[{"content":"x-anthropic-billing-header: cc_version=1; cch=12345;\nrest","role":"system"}]}""";

        var node = OkNode(json, ApiRoute.ChatCompletions, Replace(fold: false));

        Assert.Equal(CanonicalLine + "\nrest", (string)node["messages"]![0]!["content"]!);
    }

    [Fact]
    public void Normalize_ChatSecondSystemMessage_OnlyFirstRewritten()
    {
        var line = "x-anthropic-billing-header: cc_version=1; cch=12345;";
        var json = Fill("""{"messages":[{"role":"system","content":@0},{"role":"system","content":@1}]}""", line, line);

        var node = OkNode(json, ApiRoute.ChatCompletions, Replace(fold: false));

        Assert.Equal(CanonicalLine, (string)node["messages"]![0]!["content"]!);
        Assert.Equal(line, (string)node["messages"]![1]!["content"]!);
    }

    [Fact]
    public void Normalize_ChatFoldedFirstSystemMessage_LineReplacedInsideReminder()
    {
        var json = """{"messages":[{"role":"user","content":"hi"},{"role":"system","content":"x-anthropic-billing-header: cc_version=1; cch=12345;\nenv"}]}""";

        var (outcome, body) = Run(Encoding.UTF8.GetBytes(json), ApiRoute.ChatCompletions, Replace());

        Assert.Equal(1, outcome.BillingLinesRewritten);
        var content = JsonNode.Parse(body)!["messages"]![0]!["content"]!.AsArray();
        Assert.Equal($"<system-reminder>\n{CanonicalLine}\nenv\n</system-reminder>", (string)content[1]!["text"]!);
    }

    [Theory]
    [InlineData("<|im_start|>system\n")]
    [InlineData("<start_of_turn>user\nsome text\n")]
    [InlineData("")]
    public void Normalize_CompletionPromptLineAfterTemplatePrefix_Replaced(string prefix)
    {
        var prompt = prefix + "x-anthropic-billing-header: cc_version=2.1.63.a43; cc_entrypoint=cli; cch=e2224;\nYou are Claude.<|im_end|>";
        var json = Fill("""{"prompt":@0,"n_predict":16,"cache_prompt":true}""", prompt);

        var node = OkNode(json, ApiRoute.Completion, Replace());

        Assert.Equal(prefix + CanonicalLine + "\nYou are Claude.<|im_end|>", (string)node["prompt"]!);
        Assert.Equal(16, (int)node["n_predict"]!);
    }

    [Fact]
    public void Normalize_CompletionPromptArray_RewritesStringsKeepsTokens()
    {
        var json = """{"prompt":[12,"x-anthropic-billing-header: cch=00000;\nA",34]}""";

        var node = OkNode(json, ApiRoute.Completion, Replace());

        Assert.Equal("[12,\"" + CanonicalLine + "\\nA\",34]", node["prompt"]!.ToJsonString());
    }

    [Theory]
    [InlineData(nameof(ApiRoute.Messages), """{"system":[{"type":"text","text":"Intro\nx-anthropic-billing-header: cch=12345;"}]}""")]
    [InlineData(nameof(ApiRoute.Messages), """{"system":"see x-anthropic-billing-header: cch=12345;"}""")]
    [InlineData(nameof(ApiRoute.Completion), """{"prompt":"see x-anthropic-billing-header: cch=12345;"}""")]
    [InlineData(nameof(ApiRoute.Completion), """{"prompt":"X-Anthropic-Billing-Header: cch=12345;"}""")]
    [InlineData(nameof(ApiRoute.ChatCompletions), """{"messages":[{"role":"user","content":"x-anthropic-billing-header: cch=12345;"}]}""")]
    [InlineData(nameof(ApiRoute.ChatCompletions), """{"system":"x-anthropic-billing-header: cch=12345;","messages":[]}""")]
    [InlineData(nameof(ApiRoute.Messages), """{"messages":[{"role":"user","content":"x-anthropic-billing-header: cch=12345;"}]}""")]
    [InlineData(nameof(ApiRoute.Messages), """{"prompt":"x-anthropic-billing-header: cch=12345;"}""")]
    public void Normalize_LineWhereNoBillingLineBelongs_Untouched(string routeName, string json)
    {
        var route = Enum.Parse<ApiRoute>(routeName);
        var (outcome, body) = Run(Encoding.UTF8.GetBytes(json), route, Replace(fold: false));

        Assert.True(outcome.Success, outcome.Error);
        Assert.Equal(0, outcome.BillingLinesRewritten);
        JsonAssert.DeepEqual(Element(Encoding.UTF8.GetBytes(json)), Element(body));
    }

    [Fact]
    public void Normalize_KeyWrittenWithEscapes_StillMatched()
    {
        var json = """{"system":[{"type":"text","text":"\u0078-anthropic-billing-header: cch=12345;"}]}""";

        var node = OkNode(json, ApiRoute.Messages, Replace());

        Assert.Equal(CanonicalLine, (string)node["system"]![0]!["text"]!);
    }

    [Fact]
    public void Normalize_CrLfLineEnding_Kept()
    {
        var node = OkNode("""{"system":"x-anthropic-billing-header: cch=12345;\r\nrest"}""", ApiRoute.Messages, Replace());

        Assert.Equal(CanonicalLine + "\r\nrest", (string)node["system"]!);
    }

    [Fact]
    public void Normalize_ConfiguredValue_Written()
    {
        var settings = new NormalizationSettings(BillingHeaderMode.Replace, "cc_version=9.9.9; cc_entrypoint=lab; ünïcode;", true);

        var node = OkNode("""{"system":"x-anthropic-billing-header: cch=12345;\nrest"}""", ApiRoute.Messages, settings);

        Assert.Equal("x-anthropic-billing-header: cc_version=9.9.9; cc_entrypoint=lab; ünïcode;\nrest", (string)node["system"]!);
    }

    [Fact]
    public void Normalize_ConfiguredValueWithLineBreak_CutAtBreakSoOutputStaysIdempotent()
    {
        var settings = new NormalizationSettings(BillingHeaderMode.Replace, "v=1;\ninjected", true);
        var input = Encoding.UTF8.GetBytes("""{"system":"x-anthropic-billing-header: cch=12345;\nrest"}""");

        var once = Ok(input, ApiRoute.Messages, settings);
        var twice = Ok(once, ApiRoute.Messages, settings);

        Assert.Equal("x-anthropic-billing-header: v=1;\nrest", (string)JsonNode.Parse(once)!["system"]!);
        Assert.Equal(once, twice);
    }

    [Fact]
    public void Normalize_DefaultSettingsStruct_UsesDefaultValue()
    {
        var node = OkNode("""{"system":"x-anthropic-billing-header: cch=12345;"}""", ApiRoute.Messages, default);

        Assert.Equal(CanonicalLine, (string)node["system"]!);
    }

    [Fact]
    public void Normalize_StripLineAloneInBlockZero_RemovesBlock()
    {
        var json = """{"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.63.a43; cch=e2224;"},{"type":"text","text":"Rules","cache_control":{"type":"ephemeral"}}]}""";

        var (outcome, body) = Run(Encoding.UTF8.GetBytes(json), ApiRoute.Messages, Settings(BillingHeaderMode.Strip));

        Assert.Equal(1, outcome.BillingLinesRewritten);
        Assert.Equal("""{"system":[{"type":"text","text":"Rules","cache_control":{"type":"ephemeral"}}]}""", Encoding.UTF8.GetString(body));
    }

    [Fact]
    public void Normalize_StripLineWithTrailingNewlineOnly_RemovesBlock()
    {
        var node = OkNode("""{"system":[{"text":"x-anthropic-billing-header: cch=e2224;\n","type":"text"},{"type":"text","text":"Rules"}]}""", ApiRoute.Messages, Settings(BillingHeaderMode.Strip));

        Assert.Equal("""[{"type":"text","text":"Rules"}]""", node["system"]!.ToJsonString());
    }

    [Fact]
    public void Normalize_StripFirstLineOfBlock_KeepsRest()
    {
        var node = OkNode("""{"system":[{"type":"text","text":"x-anthropic-billing-header: cch=e2224;\nRules\nMore"}]}""", ApiRoute.Messages, Settings(BillingHeaderMode.Strip));

        Assert.Equal("Rules\nMore", (string)node["system"]![0]!["text"]!);
    }

    [Fact]
    public void Normalize_StripSystemString_RemovesFirstLine()
    {
        var node = OkNode("""{"system":"x-anthropic-billing-header: cch=e2224;\nRules"}""", ApiRoute.Messages, Settings(BillingHeaderMode.Strip));

        Assert.Equal("Rules", (string)node["system"]!);
    }

    [Fact]
    public void Normalize_StripChatContentPart_RemovesPart()
    {
        var json = """{"messages":[{"role":"system","content":[{"type":"text","text":"x-anthropic-billing-header: cch=e2224;"},{"type":"text","text":"Rules"}]}]}""";

        var node = OkNode(json, ApiRoute.ChatCompletions, Settings(BillingHeaderMode.Strip));

        Assert.Equal("""[{"type":"text","text":"Rules"}]""", node["messages"]![0]!["content"]!.ToJsonString());
    }

    [Fact]
    public void Normalize_StripCompletionLine_RemovesLineAndNewline()
    {
        var node = OkNode("""{"prompt":"<|im_start|>system\nx-anthropic-billing-header: cch=e2224;\nRules"}""", ApiRoute.Completion, Settings(BillingHeaderMode.Strip));

        Assert.Equal("<|im_start|>system\nRules", (string)node["prompt"]!);
    }

    [Theory]
    [InlineData(nameof(ApiRoute.Messages), """{"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.63.a43; cch=e2224;"},{"type":"text","text":"Rules"}],"messages":[]}""")]
    [InlineData(nameof(ApiRoute.Messages), """{"system":"x-anthropic-billing-header: cch=e2224;\nRules"}""")]
    [InlineData(nameof(ApiRoute.ChatCompletions), """{"messages":[{"role":"system","content":"x-anthropic-billing-header: cch=e2224;\nRules"}]}""")]
    [InlineData(nameof(ApiRoute.Completion), """{"prompt":"<|im_start|>system\nx-anthropic-billing-header: cch=e2224;\nRules"}""")]
    public void Normalize_Keep_LeavesBodyAsSent(string routeName, string json)
    {
        var route = Enum.Parse<ApiRoute>(routeName);
        var input = Encoding.UTF8.GetBytes(json);

        var (outcome, body) = Run(input, route, Settings(BillingHeaderMode.Keep));

        Assert.True(outcome.Success, outcome.Error);
        Assert.Equal(0, outcome.BillingLinesRewritten);
        Assert.Equal(json, Encoding.UTF8.GetString(body));
    }

    [Fact]
    public void Normalize_ReplaceOnRecordedRequests_OnlyBlockZeroChanges()
    {
        foreach (var name in Fixtures.RecordedRequestNames)
        {
            var input = JsonNode.Parse(Fixtures.RecordedBody(name))!;
            Assert.StartsWith("x-anthropic-billing-header: cc_version=", (string)input["system"]![0]!["text"]!);

            var output = JsonNode.Parse(Ok(Fixtures.RecordedBody(name), ApiRoute.Messages, Replace(fold: false)))!;

            Assert.Equal(CanonicalLine, (string)output["system"]![0]!["text"]!);
            input["system"]![0]!["text"] = CanonicalLine;
            JsonAssert.DeepEqual(Element(input), Element(output));
        }
    }
}
