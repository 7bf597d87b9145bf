using System.Text.Json;
using LlamaGateway.Conversations;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Normalization;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Conversations;

/// <summary>The fingerprint's memos on reuse-cache values (<see cref="CachedValue.Fingerprint"/>) change no fingerprint.</summary>
public sealed class FingerprintReuseTests
{
    public static TheoryData<string, bool> Bodies() => Fixtures.RecordedRequestsWithFold();

    [Theory]
    [MemberData(nameof(Bodies))]
    public void Compute_BodyRepeatedWithReuseCache_SameFingerprintAsWithoutAndMemosUsed(string name, bool fold)
    {
        var body = Fixtures.RecordedBody(name);
        var expected = Fingerprint(body, null, fold);
        var cache = new UnchangedValueCache(64L * 1024 * 1024);

        // First and second: remembered; third: spliced, memos written; fourth: memos read.
        var runs = Enumerable.Range(0, 4).Select(_ => Fingerprint(body, cache, fold)).ToArray();

        Assert.All(runs, actual => AssertSame(expected, actual));
        Assert.True(cache.Hits > 0);
    }

    [Fact]
    public void Compute_FollowUpTurnAfterMemos_SameFingerprintAsWithout()
    {
        var cache = new UnchangedValueCache(64L * 1024 * 1024);
        var first = Fixtures.RecordedBody("turn1-first");
        var followUp = Fixtures.RecordedBody("turn2-continue");
        for (var i = 0; i < 3; i++)
        {
            Fingerprint(first, cache, fold: true);
        }

        AssertSame(Fingerprint(followUp, null, fold: true), Fingerprint(followUp, cache, fold: true));
        AssertSame(Fingerprint(followUp, null, fold: true), Fingerprint(followUp, cache, fold: true));
    }

    [Fact]
    public void Compute_SameValueAsMessageThenInChatRoute_MemoOfOneUseNotTakenForTheOther()
    {
        // One assistant message, byte for byte, in an Anthropic body and in a chat body: the two routes digest a
        // message by different rules, so a memo written for one must not answer for the other.
        var message = $$"""{"role":"assistant","content":"{{new string('a', 1500)}}","name":"n"}""";
        var anthropic = System.Text.Encoding.UTF8.GetBytes($$"""{"model":"m","messages":[{"role":"user","content":"q"},{{message}}]}""");
        var chat = System.Text.Encoding.UTF8.GetBytes($$"""{"model":"m","messages":[{"role":"user","content":"q"},{{message}}]}""");
        var cache = new UnchangedValueCache(64L * 1024 * 1024);
        for (var i = 0; i < 3; i++)
        {
            Fingerprint(anthropic, cache, fold: false, ApiRoute.Messages);
        }

        Assert.True(cache.Hits > 0);
        AssertSame(Fingerprint(chat, null, fold: false, ApiRoute.ChatCompletions), Fingerprint(chat, cache, fold: false, ApiRoute.ChatCompletions));
    }

    private static ConversationFingerprint Fingerprint(byte[] body, UnchangedValueCache? cache, bool fold, ApiRoute route = ApiRoute.Messages)
    {
        using var tape = RecordedTape.NormalizeToTape(body, route, NormalizerRun.Replace(fold) with { ReuseCache = cache });
        return ConversationFingerprinter.Compute(tape, route) ?? throw new InvalidOperationException("no fingerprint");
    }

    private static void AssertSame(ConversationFingerprint expected, ConversationFingerprint actual) =>
        Assert.Equal(JsonSerializer.Serialize(expected), JsonSerializer.Serialize(actual));
}
