using System.Buffers;
using System.Text;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Normalization;

public sealed class UnchangedValueCacheTests
{
    private const long Capacity = 64L * 1024 * 1024;

    public static TheoryData<string> RecordedBodies()
    {
        var data = new TheoryData<string>();
        foreach (var name in Fixtures.RecordedRequestNames)
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RecordedBodies))]
    public void Normalize_SameClaudeCodeBodyThreeTimes_ThirdRunCopiesFromCacheWithSameOutputAndTape(string name)
    {
        var body = Fixtures.RecordedBody(name);
        var cache = new UnchangedValueCache(Capacity);
        var plain = NormalizeWithoutCache(body);
        var settings = NormalizerRun.Replace() with { ReuseCache = cache };

        var (first, firstOutput, firstRecorded) = RecordedTape.Normalize(body, ApiRoute.Messages, settings);
        Assert.Equal(0, cache.Count);
        var (second, secondOutput, secondRecorded) = RecordedTape.Normalize(body, ApiRoute.Messages, settings);
        var missesAfterSecond = cache.Misses;
        var (third, thirdOutput, thirdRecorded) = RecordedTape.Normalize(body, ApiRoute.Messages, settings);

        Assert.True(first.Success && second.Success && third.Success, first.Error ?? third.Error);
        Assert.Equal(first, third);
        Assert.True(firstRecorded && secondRecorded && thirdRecorded, "the recording (checked against the parsed tape) must survive cached copies");
        Assert.Equal(plain, firstOutput);
        Assert.Equal(plain, secondOutput);
        Assert.Equal(plain, thirdOutput);
        Assert.True(cache.Count > 0, "a Claude Code body has containers of 1 KB and more copied unchanged (the tools array), remembered when seen again");
        Assert.True(cache.Hits > 0, "the third run must find them");
        Assert.Equal(missesAfterSecond, cache.Misses);
    }

    [Theory]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"a"},{"role":"system","content":"b"} x]}""")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"a"} ,, {"role":"system","content":"b"}]}""")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"a\q"},{"role":"assistant","content":"b"}]}""")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"a"},"text"]}""")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"a"}""")]
    public void Normalize_BadJsonAfterUserMessage_SameErrorAsWithoutFolding(string json)
    {
        // Holding a user message for folding must not change what a malformed body after it is told: the same error
        // as a pass that does not fold (and so copies user messages as it reads them).
        var body = Encoding.UTF8.GetBytes(json);
        var folding = RequestNormalizer.Normalize(body, ApiRoute.Messages, NormalizerRun.Replace(fold: true), new ArrayBufferWriter<byte>());
        var plain = RequestNormalizer.Normalize(body, ApiRoute.Messages, NormalizerRun.Replace(fold: false), new ArrayBufferWriter<byte>());
        Assert.False(folding.Success);
        Assert.Equal(plain.Error, folding.Error);
    }

    [Fact]
    public void Normalize_NonStringRoleAfterUserMessage_NamesThatMessage()
    {
        // Only folding reads roles, so only it rejects this, naming the message.
        var body = Encoding.UTF8.GetBytes("""{"model":"m","messages":[{"role":"user","content":"a"},{"role":7,"content":"b"}]}""");
        var outcome = RequestNormalizer.Normalize(body, ApiRoute.Messages, NormalizerRun.Replace(fold: true), new ArrayBufferWriter<byte>());
        Assert.False(outcome.Success);
        Assert.Equal("messages[1].role must be a string", outcome.Error);
    }

    [Fact]
    public void Normalize_FollowUpTurn_ToolsSeenTwiceBeforeComeFromCacheAndOutputMatchesUncached()
    {
        var cache = new UnchangedValueCache(Capacity);
        var settings = NormalizerRun.Replace() with { ReuseCache = cache };
        var followUp = Fixtures.RecordedBody("turn2-continue");
        RecordedTape.Normalize(Fixtures.RecordedBody("turn1-first"), ApiRoute.Messages, settings);
        RecordedTape.Normalize(Fixtures.RecordedBody("turn1-first"), ApiRoute.Messages, settings);
        var hitsBefore = cache.Hits;

        var (outcome, output, recorded) = RecordedTape.Normalize(followUp, ApiRoute.Messages, settings);

        Assert.True(outcome.Success, outcome.Error);
        Assert.True(recorded);
        Assert.Equal(NormalizeWithoutCache(followUp), output);

        // The tools array and the first user message's content are the same bytes in both turns.
        Assert.True(cache.Hits - hitsBefore >= 2, $"hits in the follow-up: {cache.Hits - hitsBefore}");
    }

    [Fact]
    public void Add_OfferedOnce_NotRememberedUntilOfferedAgain()
    {
        var cache = new UnchangedValueCache(Capacity);
        var value = Value(3);

        Offer(cache, value);
        Assert.Null(cache.Find(value, 0));

        Offer(cache, value);
        Assert.NotNull(cache.Find(value, 0));
    }

    [Fact]
    public void Normalize_LargeValueWithWhitespace_NotCachedAndWrittenCompact()
    {
        var tools = string.Join(",\n  ", Enumerable.Range(0, 40).Select(i => $$"""{ "name": "tool{{i}}", "description": "{{new string('d', 40)}}" }"""));
        var body = Encoding.UTF8.GetBytes($$"""{"model":"m","messages":[{"role":"user","content":"hi"}],"tools": [ {{tools}} ] }""");
        var cache = new UnchangedValueCache(Capacity);

        var first = NormalizeWith(body, cache);
        var second = NormalizeWith(body, cache);

        Assert.Equal(0, cache.Count);
        Assert.Equal(0, cache.Hits);
        Assert.Equal(NormalizeWithoutCache(body), first);
        Assert.Equal(first, second);
        Assert.DoesNotContain((byte)'\n', second);
    }

    [Fact]
    public void Normalize_SamePrefixDifferentEnd_NotTakenFromCache()
    {
        var cache = new UnchangedValueCache(Capacity);
        var original = Encoding.UTF8.GetBytes(ToolsBody(last: "first version"));
        var edited = Encoding.UTF8.GetBytes(ToolsBody(last: "other version"));
        NormalizeWith(original, cache);
        NormalizeWith(original, cache);
        Assert.True(cache.Count > 0);

        var output = NormalizeWith(edited, cache);

        Assert.Equal(NormalizeWithoutCache(edited), output);
        Assert.Contains("other version", Encoding.UTF8.GetString(output), StringComparison.Ordinal);
    }

    [Fact]
    public void Normalize_CachedValueAtDepthPastTheLimit_FailsAsWithoutCache()
    {
        // A value that opens 255 levels, cached at depth 1 (its innermost at 255, under the limit of 256), then sent
        // again at depth 4, past the limit: the copy from the cache must not let that through.
        var deep = new string('[', 253) + new string(']', 253);
        var value = $$"""[{"pad":"{{new string('p', 1500)}}","deep":{{deep}}}]""";
        var shallow = Encoding.UTF8.GetBytes($$"""{"model":"m","tools":{{value}}}""");
        var nested = Encoding.UTF8.GetBytes($$"""{"model":"m","x":[[{"y":{{value}}}]]}""");
        var cache = new UnchangedValueCache(Capacity);
        Outcome(shallow, cache);
        var cold = Outcome(shallow, cache);
        Assert.True(cold.Success, cold.Error);
        Assert.True(cache.Count > 0);

        var withCache = Outcome(nested, cache);
        var without = Outcome(nested, cache: null);

        Assert.False(without.Success);
        Assert.False(withCache.Success);
        Assert.Equal(without.Error, withCache.Error);
        Assert.Contains("depth", withCache.Error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Add_PastCapacity_StaysWithinItAndKeepsWhatWasUsed()
    {
        var cache = new UnchangedValueCache(64 * 1024);
        var used = Value(0);
        Add(cache, used);
        for (var i = 1; i <= 40; i++)
        {
            Assert.NotNull(cache.Find(used, 0)); // used between additions, as a shared tools array is
            Add(cache, Value(i));
            Assert.True(cache.SizeBytes <= cache.CapacityBytes, $"{cache.SizeBytes} bytes held after {i} additions");
        }

        Assert.NotNull(cache.Find(used, 0));
        Assert.Null(cache.Find(Value(1), 0));
        Assert.NotNull(cache.Find(Value(40), 0));
    }

    [Fact]
    public void Find_ManyValuesSharingALongPrefix_EachFoundAfterItsSecondOffer()
    {
        // Every conversation's first user message opens with the same reminder text for kilobytes and differs only at
        // its end: hundreds of values in one bucket, each still found by its own bytes.
        var cache = new UnchangedValueCache(Capacity);
        var values = Enumerable.Range(0, 300).Select(i => SharedPrefixValue(i)).ToArray();
        foreach (var value in values)
        {
            Add(cache, value);
        }

        Assert.Equal(values.Length, cache.Count);
        foreach (var value in values)
        {
            var found = cache.Find(value, 0);
            Assert.NotNull(found);
            Assert.Equal(value, found.Bytes);
        }

        Assert.Null(cache.Find(SharedPrefixValue(300), 0));
    }

    [Fact]
    public void Find_ValuesBranchingAtManyDepthsOfOnePrefix_AgreesWithComparingEveryValue()
    {
        // A lookup is a binary search among values sorted by their bytes: values that branch off a long common
        // prefix at many depths, looked up with bodies that follow one of them for a while and then differ, or run
        // on past its end, must find exactly the value a comparison with every value finds.
        var random = new Random(20_261_202);
        var cache = new UnchangedValueCache(Capacity);
        var values = new List<byte[]>();
        for (var i = 0; i < 120; i++)
        {
            values.Add(BranchingValue(random));
        }

        foreach (var value in values)
        {
            Add(cache, value);
        }

        for (var i = 0; i < 600; i++)
        {
            var basis = values[random.Next(values.Count)];
            var body = random.Next(3) switch
            {
                0 => [.. basis, .. ",1]"u8.ToArray()],
                1 => BranchingValue(random),
                _ => Diverge(basis, random),
            };
            var expected = values.FirstOrDefault(v => body.AsSpan().StartsWith(v));
            var found = cache.Find(body, 0);
            Assert.Equal(expected is null ? null : Encoding.UTF8.GetString(expected), found is null ? null : Encoding.UTF8.GetString(found.Bytes));
        }
    }

    /// <summary>A 64-byte head all values share, then a text of 'a's and 'b's whose runs branch at random depths.</summary>
    private static byte[] BranchingValue(Random random)
    {
        var text = new StringBuilder(new string('r', 64));
        var length = 1100 + random.Next(400);
        while (text.Length < length)
        {
            text.Append(random.Next(4) == 0 ? 'b' : 'a', 1 + random.Next(300));
        }

        return Encoding.UTF8.GetBytes($"[\"{text}\"]");
    }

    /// <summary>The value with one byte of its text changed, so a body follows it up to there and then differs.</summary>
    private static byte[] Diverge(byte[] value, Random random)
    {
        var copy = value.ToArray();
        var at = 66 + random.Next(copy.Length - 69);
        copy[at] = copy[at] == (byte)'a' ? (byte)'b' : (byte)'a';
        return copy;
    }

    [Fact]
    public void Add_FullBucketKeepsReplacingValues_QueueStaysNearTheLiveCount()
    {
        // More values sharing their first bytes than a bucket holds, sent round and round (as 64 clients' first
        // messages are): the bucket replaces its oldest, and the eviction queue must not keep every replaced one.
        var cache = new UnchangedValueCache(Capacity, maxPerBucket: 8);
        var values = Enumerable.Range(0, 20).Select(i => SharedPrefixValue(i, pad: 1000)).ToArray();
        for (var lap = 0; lap < 200; lap++)
        {
            foreach (var value in values)
            {
                Add(cache, value);
            }
        }

        Assert.Equal(8, cache.Count);
        Assert.True(cache.QueueLength <= (2 * cache.Count) + 64, $"queue {cache.QueueLength} for {cache.Count} values");
        Assert.True(cache.SizeBytes <= cache.CapacityBytes);
    }

    [Fact]
    public void Find_BodyShorterThanCachedValue_NoHit()
    {
        var cache = new UnchangedValueCache(Capacity);
        var value = Value(7);
        Add(cache, value);

        Assert.Null(cache.Find(value.AsSpan(0, value.Length - 1), 0));
        Assert.NotNull(cache.Find(value, 0));
    }

    [Fact]
    public void Find_AfterAPreviousHit_LinksWhatItFindsAsThatValuesSuccessor()
    {
        var cache = new UnchangedValueCache(Capacity);
        Add(cache, Value(1));
        Add(cache, Value(2));
        var first = cache.Find(Value(1), 0, previous: null);

        var second = cache.Find(Value(2), 0, first);

        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.Same(second, first.Next);
    }

    [Fact]
    public void Find_SuccessorGuessMatches_ReturnsItWithoutLookingInTheCache()
    {
        // The guess is compared with the body and used as is: a value no bucket holds (here: never added) proves that
        // the one comparison replaced the lookup.
        var cache = new UnchangedValueCache(Capacity);
        Add(cache, Value(1));
        var previous = cache.Find(Value(1), 0)!;
        var guess = Create(Value(2));
        previous.Next = guess;

        Assert.Null(cache.Find(Value(2), 0));
        Assert.Same(guess, cache.Find([.. Value(2), .. ",3]"u8.ToArray()], 0, previous));
    }

    [Fact]
    public void Find_SuccessorGuessWrong_FindsTheValueThereAndRelinks()
    {
        var cache = new UnchangedValueCache(Capacity);
        Add(cache, Value(1));
        Add(cache, Value(2));
        Add(cache, Value(3));
        var previous = cache.Find(Value(1), 0)!;
        previous.Next = cache.Find(Value(2), 0);

        var found = cache.Find(Value(3), 0, previous);

        Assert.NotNull(found);
        Assert.Equal(Value(3), found.Bytes);
        Assert.Same(found, previous.Next);
    }

    [Fact]
    public void Find_SuccessorGuessShorterBody_NoHit()
    {
        var cache = new UnchangedValueCache(Capacity);
        Add(cache, Value(1));
        var previous = cache.Find(Value(1), 0)!;
        previous.Next = Create(Value(2));

        Assert.Null(cache.Find(Value(2).AsSpan(0, Value(2).Length - 1), 0, previous));
    }

    [Fact]
    public void Find_SuccessorGuessEvicted_NotUsedAndItsOwnLinkDropped()
    {
        // An evicted value must not come back through a link (the cache's size would no longer say what it holds),
        // and links from it must not keep further values alive.
        var cache = new UnchangedValueCache(64 * 1024);
        var used = Value(0);
        Add(cache, used);
        Add(cache, Value(1));
        var previous = cache.Find(used, 0)!;
        var evicted = cache.Find(Value(1), 0, previous)!;
        evicted.Next = previous;
        for (var i = 2; i <= 40; i++)
        {
            Assert.NotNull(cache.Find(used, 0));
            Add(cache, Value(i));
        }

        Assert.True(evicted.Evicted);
        Assert.Null(evicted.Next);
        Assert.Null(cache.Find(Value(1), 0, previous));
    }

    [Fact]
    public void Normalize_ConversationsTakingTurnsOnOneCache_EveryOutputAsWithoutCache()
    {
        // Two conversations that share their first messages and their tools, then differ, take turns: the successor
        // of a shared value is guessed wrong on every switch, and each turn adds a message, so the guess after the
        // last cached message is new every time. Outputs and tapes must be those of a pass without the cache.
        var cache = new UnchangedValueCache(Capacity);
        var settings = NormalizerRun.Replace() with { ReuseCache = cache };
        for (var turn = 0; turn < 8; turn++)
        {
            foreach (var who in new[] { "a", "b" })
            {
                var body = Conversation(who, turn);
                var (outcome, output, recorded) = RecordedTape.Normalize(body, ApiRoute.Messages, settings);
                Assert.True(outcome.Success, outcome.Error);
                Assert.True(recorded);
                Assert.Equal(NormalizeWithoutCache(body), output);
            }
        }

        Assert.True(cache.Hits > 20, $"hits: {cache.Hits}");
    }

    /// <summary>A conversation of <paramref name="turn"/> tool rounds after shared opening messages, with the shared tools.</summary>
    private static byte[] Conversation(string who, int turn)
    {
        var messages = new List<string>
        {
            $$"""{"role":"user","content":[{"type":"text","text":"{{new string('s', 1500)}}"}]}""",
            $$"""{"role":"assistant","content":[{"type":"text","text":"{{new string('t', 1200)}}"}]}""",
        };
        for (var i = 0; i < turn; i++)
        {
            messages.Add($$$"""{"role":"assistant","content":[{"type":"tool_use","id":"toolu_{{{who}}}{{{i}}}","name":"Read","input":{"file_path":"/{{{who}}}/{{{i}}}"}}]}""");
            messages.Add($$"""{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_{{who}}{{i}}","content":"{{who}} {{i}} {{new string((char)('c' + i), 1100)}}"}]}""");
        }

        messages.Add($$"""{"role":"user","content":[{"type":"text","text":"{{who}} asks at turn {{turn}}"}]}""");
        return Encoding.UTF8.GetBytes($$"""{"model":"m","messages":[{{string.Join(',', messages)}}],"tools":[{"name":"a","description":"{{new string('x', 1500)}}"}],"stream":true}""");
    }

    private static CachedValue Create(byte[] value) => CachedValue.Create(0, value, Entries(value), 0);

    [Fact]
    public void Normalize_ManyRequestsInParallelSharingOneCache_EveryOutputAsWithoutCache()
    {
        var cache = new UnchangedValueCache(Capacity);
        var bodies = Fixtures.RecordedRequestNames.Select(Fixtures.RecordedBody).ToArray();
        var expected = bodies.Select(NormalizeWithoutCache).ToArray();

        Parallel.For(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var at = i % bodies.Length;
            Assert.Equal(expected[at], NormalizeWith(bodies[at], cache));
        });

        Assert.True(cache.Hits > 0);
    }

    private static string ToolsBody(string last) =>
        $$"""{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"name":"a","description":"{{new string('x', 1200)}}"},{"name":"b","description":"{{last}}"}]}""";

    private static byte[] SharedPrefixValue(int i, int pad = 1500) =>
        Encoding.UTF8.GetBytes($$"""[{"type":"text","text":"{{new string('r', pad)}} client {{i}}"}]""");

    private static byte[] Value(int i) => Encoding.UTF8.GetBytes($$"""[{{i}},"{{new string((char)('a' + (i % 26)), 4000)}}",{{i}}]""");

    /// <summary>Offered twice, so remembered.</summary>
    private static void Add(UnchangedValueCache cache, byte[] value)
    {
        Offer(cache, value);
        Offer(cache, value);
    }

    private static void Offer(UnchangedValueCache cache, byte[] value) => cache.Add(value, Entries(value), 0);

    /// <summary>The tape entries of <paramref name="value"/> parsed alone, as the normalizer records them for a container.</summary>
    private static JsonTape.Entry[] Entries(byte[] value)
    {
        using var tape = JsonTape.Parse(value, 16);
        var entries = new JsonTape.Entry[tape.Count];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = tape.EntryAt(i);
        }

        return entries;
    }

    /// <summary>As the gateway normalizes (with a recorder, which the cache needs to remember anything).</summary>
    private static NormalizationOutcome Outcome(byte[] body, UnchangedValueCache? cache)
    {
        using var recorder = new JsonTapeRecorder(body.Length);
        return RequestNormalizer.Normalize(body, ApiRoute.Messages, NormalizerRun.Replace() with { ReuseCache = cache }, new ArrayBufferWriter<byte>(), recorder);
    }

    private static byte[] NormalizeWith(byte[] body, UnchangedValueCache cache)
    {
        using var tape = RecordedTape.NormalizeToTape(body, ApiRoute.Messages, NormalizerRun.Replace() with { ReuseCache = cache });
        return tape.Json.ToArray();
    }

    private static byte[] NormalizeWithoutCache(byte[] body)
    {
        var output = new ArrayBufferWriter<byte>();
        var outcome = RequestNormalizer.Normalize(body, ApiRoute.Messages, NormalizerRun.Replace(), output);
        Assert.True(outcome.Success, outcome.Error);
        return output.WrittenSpan.ToArray();
    }
}
