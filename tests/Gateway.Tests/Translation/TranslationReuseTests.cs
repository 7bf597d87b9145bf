using System.Buffers;
using System.Text;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Normalization;
using LlamaGateway.Tests.Support;
using LlamaGateway.Translation;

namespace LlamaGateway.Tests.Translation;

/// <summary>The translator's memos on reuse-cache values (<see cref="CachedValue.Translation"/>) change no byte it writes.</summary>
public sealed class TranslationReuseTests
{
    private static readonly ChatRequestSettings Pinned = new(IdSlot: 1, MaxOutputTokens: 4096);

    public static TheoryData<string, bool> Bodies() => Fixtures.RecordedRequestsWithFold();

    [Theory]
    [MemberData(nameof(Bodies))]
    public void Translate_BodyRepeatedWithReuseCache_SameBytesAsWithoutAndToolsMemoized(string name, bool fold)
    {
        var body = Fixtures.RecordedBody(name);
        var expected = Translated(body, null, fold).Bytes;
        var cache = new UnchangedValueCache(64L * 1024 * 1024);

        // First and second: remembered; third: spliced and memoized; fourth: written from the memos.
        for (var run = 1; run <= 4; run++)
        {
            var (bytes, toolsMemoized) = Translated(body, cache, fold);
            Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(bytes));
            Assert.Equal(run >= 3, toolsMemoized);
        }
    }

    [Fact]
    public void Translate_FollowUpTurnAfterMemos_SameBytesAsWithout()
    {
        var cache = new UnchangedValueCache(64L * 1024 * 1024);
        var first = Fixtures.RecordedBody("turn1-first");
        var followUp = Fixtures.RecordedBody("turn2-continue");
        for (var i = 0; i < 3; i++)
        {
            Translated(first, cache, fold: true);
        }

        var expected = Encoding.UTF8.GetString(Translated(followUp, null, fold: true).Bytes);
        Assert.Equal(expected, Encoding.UTF8.GetString(Translated(followUp, cache, fold: true).Bytes));
        Assert.Equal(expected, Encoding.UTF8.GetString(Translated(followUp, cache, fold: true).Bytes));
    }

    [Fact]
    public void Translate_MemoizedMessageFirstWithAndWithoutSystemBeforeIt_CommaOnlyWhereNeeded()
    {
        // The same large message is memoized in a body with a system prompt (a comma before it in the output) and
        // then written first in one without (no comma), and the other way round.
        var message = $$"""{"role":"assistant","content":[{"type":"text","text":"{{new string('a', 1500)}}"}]}""";
        var withSystem = Encoding.UTF8.GetBytes($$"""{"model":"m","system":"s","messages":[{{message}},{"role":"user","content":"q"}],"max_tokens":5}""");
        var without = Encoding.UTF8.GetBytes($$"""{"model":"m","messages":[{{message}},{"role":"user","content":"q"}],"max_tokens":5}""");
        foreach (var (memoized, other) in new[] { (withSystem, without), (without, withSystem) })
        {
            var cache = new UnchangedValueCache(64L * 1024 * 1024);
            var expected = Encoding.UTF8.GetString(Translated(memoized, null, fold: true).Bytes);
            for (var i = 0; i < 3; i++)
            {
                // The third run is the one that captures the memo as it writes.
                Assert.Equal(expected, Encoding.UTF8.GetString(Translated(memoized, cache, fold: true).Bytes));
            }

            Assert.Equal(Encoding.UTF8.GetString(Translated(other, null, fold: true).Bytes), Encoding.UTF8.GetString(Translated(other, cache, fold: true).Bytes));
            Assert.Equal(Encoding.UTF8.GetString(Translated(memoized, null, fold: true).Bytes), Encoding.UTF8.GetString(Translated(memoized, cache, fold: true).Bytes));
        }
    }

    [Fact]
    public void Translate_MemoizedToolsThatWriteNothing_NoStrayComma()
    {
        // Only server tools (no input_schema): left out, so the memo is empty and the next field needs its comma.
        var tools = string.Join(",", Enumerable.Range(0, 20).Select(i => $$"""{"type":"web_search_20250305","name":"web_search_{{i}}","max_uses":{{i}}}"""));
        var body = Encoding.UTF8.GetBytes($$"""{"model":"m","messages":[{"role":"user","content":"q"}],"tools":[{{tools}}],"max_tokens":5,"stream":true}""");
        var expected = Encoding.UTF8.GetString(Translated(body, null, fold: true).Bytes);
        var cache = new UnchangedValueCache(64L * 1024 * 1024);

        for (var run = 1; run <= 4; run++)
        {
            var (bytes, toolsMemoized) = Translated(body, cache, fold: true);
            Assert.Equal(expected, Encoding.UTF8.GetString(bytes));
            Assert.Equal(run >= 3, toolsMemoized);
        }

        System.Text.Json.JsonDocument.Parse(expected).Dispose();
    }

    private static (byte[] Bytes, bool ToolsMemoized) Translated(byte[] body, UnchangedValueCache? cache, bool fold)
    {
        using var tape = RecordedTape.NormalizeToTape(body, ApiRoute.Messages, NormalizerRun.Replace(fold) with { ReuseCache = cache });
        var output = new ArrayBufferWriter<byte>();
        var translated = AnthropicToOpenAiRequest.Translate(tape, Pinned, output);
        Assert.True(translated.Success, translated.Error);
        var toolsMemoized = tape.Root.TryGetProperty("tools"u8, out var tools) && tools.Spliced?.Translation is { Use: TranslationUse.Tools };
        return (output.WrittenSpan.ToArray(), toolsMemoized);
    }
}
