using System.Text;
using System.Text.Json;
using LlamaGateway.Normalization;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Normalization;

/// <summary>The tokenizer is checked against System.Text.Json's reader, token by token.</summary>
public sealed class JsonTokenizerTests
{
    public static TheoryData<string> RecordedNames => new(Fixtures.RecordedRequestNames);

    [Theory]
    [MemberData(nameof(RecordedNames))]
    public void Read_RecordedBody_SameTokensAsUtf8JsonReader(string name)
    {
        AssertSameTokens(Fixtures.RecordedBody(name));
    }

    [Fact]
    public void Read_EscapesAroundEveryBlockBoundary_SameTokensAndText()
    {
        // Raw non-ASCII too: its UTF-16 length is counted per block, and a character may straddle two blocks.
        string[] escapes = ["\\n", "\\\"", "\\\\", "\\/", "\\u00e9", "\\ud83d\\ude00", "\\t", "\\b", "\\f", "\\r", "\\u001F", "😀", "中"];
        foreach (var escape in escapes)
        {
            for (var offset = 0; offset < 70; offset++)
            {
                for (var tail = 0; tail < 40; tail += 13)
                {
                    var text = new string('a', offset) + escape + "é" + new string('b', tail) + escape;
                    AssertSameTokens(Encoding.UTF8.GetBytes($$"""{"k{{escape}}":"{{text}}","n":[1,-2.5e+3,true,false,null,"{{text}}"]}"""));
                }
            }
        }
    }

    [Fact]
    public void Read_WhitespaceAndNesting_SameTokens()
    {
        AssertSameTokens(" \r\n\t{ \"a\" : [ { } , [ ] , { \"b\" : { \"c\" : [ 0 , 1e5 , -0.5E-2 ] } } ] , \"d\" : \"\" } \n"u8.ToArray());
        AssertSameTokens("[]"u8.ToArray());
        AssertSameTokens("\"root\""u8.ToArray());
        AssertSameTokens("12"u8.ToArray());
    }

    public static TheoryData<string> Malformed => new()
    {
        "", " ", "{", "}", "[", "]", "{]", "[}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":1,}", "[1,]", "[,1]",
        "[1 2]", "{\"a\":1 \"b\":2}", "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "tru", "nul", "truex", "[true1]", "NaN",
        "\"abc", "\"a\\x\"", "\"a\\u12\"", "\"a\\u12G4\"", "\"tab\tin\"", "\"nl\nin\"", "{} {}", "{}x", "[1]]", "{\"a\":1}}",
        "{\"a\":\"\\", "[\"\\u", "/*c*/{}", "{\"a\":1//c\n}",
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Read_MalformedJson_ThrowsJsonExceptionLikeUtf8JsonReader(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        Assert.ThrowsAny<JsonException>(() => ReadAllWithReader(bytes));

        var exception = Record.Exception(() => ReadAll(bytes));

        Assert.IsType<JsonException>(exception);
    }

    [Theory]
    [InlineData("\"\\ud800\"")]
    [InlineData("\"\\udc00\"")]
    [InlineData("\"\\ud800\\u0041\"")]
    [InlineData("\"\\ud800x\"")]
    public void Read_EscapedLoneSurrogate_Rejected(string json)
    {
        Assert.IsType<JsonException>(Record.Exception(() => ReadAll(Encoding.UTF8.GetBytes(json))));
    }

    [Fact]
    public void Read_DepthLimit_Enforced()
    {
        var ok = Encoding.UTF8.GetBytes(new string('[', 8) + new string(']', 8));
        var deep = Encoding.UTF8.GetBytes(new string('[', 9) + new string(']', 9));

        var tokenizer = new JsonTokenizer(ok, 8);
        while (tokenizer.Read())
        {
        }

        Assert.IsType<JsonException>(Record.Exception(() =>
        {
            var reader = new JsonTokenizer(deep, 8);
            while (reader.Read())
            {
            }
        }));
    }

    [Theory]
    [MemberData(nameof(RecordedNames))]
    public void SkipUnvalidated_AtEveryContainer_LandsWhereSkipDoes(string name)
    {
        var body = Fixtures.RecordedBody(name);
        var walker = new JsonTokenizer(body, 256);
        var containers = 0;
        while (walker.Read())
        {
            if (walker.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
            {
                continue;
            }

            var validated = walker;
            var blind = walker;
            validated.Skip();
            blind.SkipUnvalidated();
            Assert.Equal(validated.TokenType, blind.TokenType);
            Assert.Equal(validated.TokenStartIndex, blind.TokenStartIndex);
            Assert.Equal(validated.CurrentDepth, blind.CurrentDepth);
            var more = validated.Read();
            Assert.Equal(more, blind.Read());
            if (more)
            {
                Assert.Equal(validated.TokenStartIndex, blind.TokenStartIndex);
                Assert.Equal(validated.TokenType, blind.TokenType);
            }

            containers++;
        }

        Assert.True(containers > 100);
    }

    [Theory]
    [MemberData(nameof(RecordedNames))]
    public void Skip_ReplayedFromTape_LandsWhereScanningSkipDoes(string name)
    {
        var body = Fixtures.RecordedBody(name);
        using var tape = JsonTape.Parse(body, 256);
        var scanner = new JsonTokenizer(body, 256);
        var replay = new JsonTokenizer(tape);
        var skips = 0;
        while (scanner.Read())
        {
            Assert.True(replay.Read());
            Assert.Equal(scanner.TokenStartIndex, replay.TokenStartIndex);
            if (scanner.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray or JsonTokenType.PropertyName))
            {
                continue;
            }

            // Skip copies, then read one token further: the originals go on token by token.
            var scanned = scanner;
            var replayed = replay;
            scanned.Skip();
            replayed.Skip();
            Assert.Equal(scanned.TokenType, replayed.TokenType);
            Assert.Equal(scanned.TokenStartIndex, replayed.TokenStartIndex);
            Assert.Equal(scanned.CurrentDepth, replayed.CurrentDepth);
            Assert.Equal(scanned.ValueSpan.ToArray(), replayed.ValueSpan.ToArray());
            var more = scanned.Read();
            Assert.Equal(more, replayed.Read());
            if (more)
            {
                Assert.Equal(scanned.TokenType, replayed.TokenType);
                Assert.Equal(scanned.TokenStartIndex, replayed.TokenStartIndex);
            }

            skips++;
        }

        Assert.False(replay.Read());
        Assert.True(skips > 100, $"only {skips} skips");
    }

    [Fact]
    public void Read_RandomlyCorruptedBodies_AcceptedExactlyWhenUtf8JsonReaderAccepts()
    {
        var original = Fixtures.RecordedBody("conv2-tool-result");
        var random = new Random(42);
        var special = "{}[]\",:\\0 tfnue-.+\t\n"u8.ToArray();
        for (var round = 0; round < 600; round++)
        {
            var body = (byte[])original.Clone();
            for (var edits = random.Next(1, 3); edits > 0; edits--)
            {
                body[random.Next(body.Length)] = special[random.Next(special.Length)];
            }

            var expected = Record.Exception(() => ReadAllWithReader(body));
            var actual = Record.Exception(() => ReadAll(body));

            Assert.True(expected is null ? actual is null : actual is JsonException, $"round {round}: reader {expected?.Message}, tokenizer {actual?.Message}");
        }
    }

    /// <summary>Reads everything with the tokenizer, unescaping every string; and the tape must fail exactly when it does.</summary>
    private static void ReadAll(byte[] json)
    {
        var tapeError = Record.Exception(() => JsonTape.Parse(json, 64).Dispose());
        try
        {
            var tokenizer = new JsonTokenizer(json, 64);
            while (tokenizer.Read())
            {
                if (tokenizer.TokenType is JsonTokenType.String or JsonTokenType.PropertyName)
                {
                    tokenizer.CopyString(new byte[tokenizer.ValueSpan.Length]);
                }
            }
        }
        catch (Exception e)
        {
            Assert.IsType(e.GetType(), tapeError);
            throw;
        }

        Assert.Null(tapeError);
    }

    private static void ReadAllWithReader(byte[] json)
    {
        var reader = new Utf8JsonReader(json);
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName)
            {
                reader.GetString();
            }
        }
    }

    private static void AssertSameTokens(byte[] json)
    {
        var reader = new Utf8JsonReader(json);
        var tokenizer = new JsonTokenizer(json, 64);
        using var tape = JsonTape.Parse(json, 64);
        var replay = new JsonTokenizer(tape);
        while (reader.Read())
        {
            Assert.True(tokenizer.Read());
            Assert.True(replay.Read());
            Assert.Equal(reader.TokenType, replay.TokenType);
            Assert.Equal(reader.CurrentDepth, replay.CurrentDepth);
            Assert.Equal(reader.TokenStartIndex, replay.TokenStartIndex);
            Assert.Equal(reader.TokenType, tokenizer.TokenType);
            Assert.Equal(reader.CurrentDepth, tokenizer.CurrentDepth);
            Assert.Equal(reader.TokenStartIndex, tokenizer.TokenStartIndex);
            if (reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray or JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                continue;
            }

            Assert.Equal(reader.ValueSpan.ToArray(), tokenizer.ValueSpan.ToArray());
            Assert.Equal(reader.ValueIsEscaped, tokenizer.ValueIsEscaped);
            Assert.Equal(reader.ValueSpan.ToArray(), replay.ValueSpan.ToArray());
            Assert.Equal(reader.ValueIsEscaped, replay.ValueIsEscaped);
            if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName)
            {
                var expected = new byte[reader.ValueSpan.Length];
                var exact = new byte[tokenizer.ValueSpan.Length];
                var roomy = new byte[tokenizer.ValueSpan.Length + JsonTokenizer.UnescapeSlack];
                Assert.Equal(expected[..reader.CopyString(expected)], exact[..tokenizer.CopyString(exact)]);
                Assert.Equal(expected[..reader.CopyString(expected)], roomy[..tokenizer.CopyString(roomy)]);
                Assert.Equal(reader.GetString()!.Length, tokenizer.ValueUtf16Length);
                Assert.Equal(reader.GetString()!.Length, replay.ValueUtf16Length);
                Assert.Equal(reader.GetString(), tokenizer.GetString());
                Assert.True(tokenizer.ValueTextEquals(Encoding.UTF8.GetBytes(reader.GetString()!)));
                Assert.Equal(reader.GetString(), replay.GetString());
                Assert.True(replay.ValueTextEquals(Encoding.UTF8.GetBytes(reader.GetString()!)));
            }
        }

        Assert.False(tokenizer.Read());
        Assert.False(replay.Read());
    }
}
