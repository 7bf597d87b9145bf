using System.Text;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Normalization;

public sealed class JsonTapeRecorderTests
{
    public static TheoryData<string, bool> RecordedBodies() => Fixtures.RecordedRequestsWithFold();

    [Theory]
    [MemberData(nameof(RecordedBodies))]
    public void Normalize_RecordedClaudeCodeBody_TapeRecordedAndEqualToParsed(string name, bool fold)
    {
        var (outcome, _, recorded) = RecordedTape.Normalize(Fixtures.RecordedBody(name), ApiRoute.Messages, NormalizerRun.Replace(fold));

        Assert.True(outcome.Success, outcome.Error);
        Assert.True(recorded, "a Claude Code body (user messages held for folding, nothing folded) must not need a second scan");
    }

    [Theory]
    [InlineData(nameof(BillingHeaderMode.Replace))]
    [InlineData(nameof(BillingHeaderMode.Strip))]
    [InlineData(nameof(BillingHeaderMode.Keep))]
    public void Normalize_ChatBodyWithBillingLineAndEscapes_TapeEqualToParsed(string modeName)
    {
        var mode = Enum.Parse<BillingHeaderMode>(modeName);
        var body = Encoding.UTF8.GetBytes("""
            {"model":"m","messages":[{"role":"system","content":"x-anthropic-billing-header: cc_version=2.1.3.a; cch=1;\nYou are \"C\" \u00e9 😀"},
             {"role":"user","content":[{"type":"text","text":"a\tb"},{"type":"image_url","image_url":{"url":"data:,"}}]},
             {"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"k\":[1,2.5e3,true,false,null]}"}}]},
             {"role":"tool","tool_call_id":"c","content":"r"}],"n":-0.5,"stream":true}
            """);

        var (outcome, _, recorded) = RecordedTape.Normalize(body, ApiRoute.ChatCompletions, NormalizerRun.Settings(mode));

        Assert.True(outcome.Success, outcome.Error);
        Assert.True(recorded);
    }

    // Every way a reminder is spliced into a held user message (and the two where no user message is held).
    [Theory]
    [InlineData("""[{"role":"user","content":"a"},{"role":"system","content":"remember \"x\"\n"},{"role":"assistant","content":"b"}]""")]
    [InlineData("""[{"role":"user","content":[{"type":"text","text":"a"}]},{"role":"system","content":[{"type":"text","text":"r1"},{"type":"text","text":"r2"}]},{"role":"system","content":"r3"}]""")]
    [InlineData("""[{"role":"user","content":[]},{"role":"system","content":"r"}]""")]
    [InlineData("""[{"role":"user","content":""},{"role":"system","content":"r"}]""")]
    [InlineData("""[{"role":"user","content":null,"name":"n"},{"role":"system","content":"r"}]""")]
    [InlineData("""[{"role":"user","name":"n"},{"role":"system","content":"r"}]""")]
    [InlineData("""[{"role":"user"},{"role":"system","content":"r"}]""")]
    [InlineData("""[{"role":"assistant","content":"a"},{"role":"system","content":"r"},{"role":"user","content":"u"}]""")]
    [InlineData("""[{"role":"assistant","content":"a"},{"role":"system","content":"r"},{"role":"assistant","content":"b"}]""")]
    [InlineData("""[{"role":"user","content":[{"type":"text","text":"é😀\u00e9"}]},{"role":"system","content":"\ud83d\ude00 ünï"},{"role":"user","content":"next"}]""")]
    public void Normalize_SystemMessageFolded_TapeRecordedAndEqualToParsed(string messages)
    {
        var body = Encoding.UTF8.GetBytes($$"""{"model":"m","messages":{{messages}}}""");

        var (outcome, _, recorded) = RecordedTape.Normalize(body, ApiRoute.Messages, NormalizerRun.Replace());

        Assert.True(outcome.Success, outcome.Error);
        Assert.True(outcome.SystemMessagesFolded > 0);
        Assert.True(recorded);
    }

    [Fact]
    public void Normalize_CachedContentInUserMessageThatTakesAFold_NoSpliceLeftOnBytesThatChanged()
    {
        // A user message is written in place and moved aside when a system message after it is folded into it. A
        // reuse-cache hit inside it (its content array, which then gains the reminder) must leave no splice behind:
        // later stages would take the cached value's memos for bytes that are no longer its bytes.
        var text = new string('w', 2_000);
        var block = $$"""[{"type":"text","text":"{{text}}"}]""";
        var body = Encoding.UTF8.GetBytes($$"""{"model":"m","messages":[{"role":"user","content":{{block}}},{"role":"system","content":"r"},{"role":"assistant","content":"b"},{"role":"user","content":{{block}}}]}""");
        var settings = NormalizerRun.Replace() with { ReuseCache = new UnchangedValueCache(64L * 1024 * 1024) };
        RecordedTape.NormalizeToTape(body, ApiRoute.Messages, settings).Dispose();

        using var tape = RecordedTape.NormalizeToTape(body, ApiRoute.Messages, settings);

        var spliced = 0;
        for (var i = 0; i < tape.Count; i++)
        {
            if (tape.SplicedAt(i) is { } value)
            {
                spliced++;
                Assert.Equal(Encoding.UTF8.GetString(value.Bytes), Encoding.UTF8.GetString(tape.RawAt(i)));
            }
        }

        Assert.Equal(1, spliced);
    }
}
