using System.Buffers;
using System.Text;
using System.Text.Json;
using LlamaGateway.Translation;
using LlamaGateway.Normalization;

namespace LlamaGateway.Tests.Translation;

public sealed class JsonTapeTests
{
    [Fact]
    public void Parse_NestedDocument_NavigatesLikeJsonDocument()
    {
        using var tape = Parse("""{"a":[1,{"b":"x\"y"},[]],"c":{"d":null,"e":true},"a2":-1.5e3}""");

        var root = tape.Root;
        Assert.Equal(JsonValueKind.Object, root.ValueKind);
        Assert.True(root.TryGetProperty("a"u8, out var a));
        Assert.Equal(3, a.GetArrayLength());
        var items = new List<string>();
        foreach (var item in a.EnumerateArray())
        {
            items.Add(Encoding.UTF8.GetString(item.Raw));
        }

        Assert.Equal(["1", """{"b":"x\"y"}""", "[]"], items);
        Assert.Equal("x\"y", root.GetProperty("a"u8).EnumerateArray().Skip(1).GetProperty("b"u8).GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("c"u8).GetProperty("d"u8).ValueKind);
        Assert.Equal(JsonValueKind.True, root.GetProperty("c"u8).GetProperty("e"u8).ValueKind);
        Assert.Equal("-1.5e3", Encoding.UTF8.GetString(root.GetProperty("a2"u8).Raw));
        Assert.False(root.TryGetProperty("b"u8, out _));
        Assert.True(tape.IsCompact);
    }

    [Fact]
    public void TryGetProperty_EscapedNameAndDuplicate_MatchesDecodedNameLastWins()
    {
        using var tape = Parse("""{"r\u006fle":"first","role":"second"}""");

        Assert.Equal("second", tape.Root.GetProperty("role"u8).GetString());
    }

    [Fact]
    public void ValueEquals_EscapedString_ComparesDecodedText()
    {
        using var tape = Parse("""{"role":"\u0075ser","type":"tex"}""");

        Assert.True(tape.Root.GetProperty("role"u8).ValueEquals("user"u8));
        Assert.False(tape.Root.GetProperty("type"u8).ValueEquals("text"u8));
    }

    [Fact]
    public void Parse_Whitespace_NotCompact()
    {
        using var tape = Parse("{ \"a\" : [1, 2] }");

        Assert.False(tape.IsCompact);
    }

    [Theory]
    [InlineData("{\"a\":}")]
    [InlineData("[1,2")]
    [InlineData("{\"a\":\"\\ud800\"}")]
    public void Parse_InvalidJson_Throws(string json)
    {
        Assert.ThrowsAny<JsonException>(() => Parse(json).Dispose());
    }

    [Fact]
    public void WriteValue_PrettySource_CopiedCompactWithStringsUntouched()
    {
        using var tape = Parse("{ \"schema\" : { \"type\" : \"object\", \"d\" : \"a b\\n\\\" c\" , \"n\": [ 1 , 2 ] } }");
        var output = new ArrayBufferWriter<byte>();
        var writer = new RawJsonWriter(output, tape.IsCompact);

        writer.WriteValue(tape.Root.GetProperty("schema"u8));

        Assert.Equal("{\"type\":\"object\",\"d\":\"a b\\n\\\" c\",\"n\":[1,2]}", Encoding.UTF8.GetString(output.WrittenSpan));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WriteValueAsString_ToolInput_StringDecodesToCompactInput(bool pretty)
    {
        const string input = """{"command":"echo \"hi\" \\ done\n","n":[1,2]}""";
        var source = pretty ? "{ \"input\" : { \"command\" : \"echo \\\"hi\\\" \\\\ done\\n\" , \"n\" : [1, 2] } }" : "{\"input\":" + input + "}";
        using var tape = Parse(source);
        var output = new ArrayBufferWriter<byte>();
        var writer = new RawJsonWriter(output, tape.IsCompact);

        writer.WriteStartObject();
        writer.WritePropertyName("arguments"u8);
        writer.WriteValueAsString(tape.Root.GetProperty("input"u8));
        writer.WriteEndObject();

        using var written = JsonDocument.Parse(output.WrittenMemory);
        Assert.Equal(input, written.RootElement.GetProperty("arguments").GetString());
    }

    [Fact]
    public void WriteStringValueSegment_CreatedText_EscapesQuoteBackslashAndControlCharacters()
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new RawJsonWriter(output, sourceIsCompact: true);

        writer.WriteStartArray();
        writer.WriteStringValueSegment("a\"b\\c\n"u8, false);
        writer.WriteStringValueSegment("\u0001é"u8, true);
        writer.WriteStringValue("x"u8);
        writer.WriteEndArray();

        Assert.Equal("[\"a\\\"b\\\\c\\n\\u0001é\",\"x\"]", Encoding.UTF8.GetString(output.WrittenSpan));
    }

    private static JsonTape Parse(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        return JsonTape.Parse(bytes, 64);
    }
}

internal static class JsonTapeEnumeratorExtensions
{
    public static JsonTapeValue Skip(this JsonTapeValue.ArrayEnumerator items, int count)
    {
        foreach (var item in items)
        {
            if (count-- == 0)
            {
                return item;
            }
        }

        throw new InvalidOperationException("too few items");
    }
}

public sealed class JsonTextTests
{
    [Theory]
    [InlineData("""{"a":"plain \n text"}""", false)]
    [InlineData("""{"a":"\ud83d\ude00 pair"}""", false)]
    [InlineData("""{"a":"\u00e9 not a surrogate"}""", false)]
    [InlineData("""{"a":"escaped backslash \\ud800"}""", false)]
    [InlineData("""{"a":"lone high \ud800 x"}""", true)]
    [InlineData("""{"a":"lone low \udc00"}""", true)]
    [InlineData("""{"a":"high at the end \uD83D"}""", true)]
    [InlineData("""{"a":"two backslashes then escape \\\ud800"}""", true)]
    public void HasLoneSurrogateEscape_AgreesWithTheReplacement(string json, bool expected)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var replaced = (byte[])bytes.Clone();
        JsonText.ReplaceLoneSurrogateEscapes(replaced);

        Assert.Equal(expected, JsonText.HasLoneSurrogateEscape(bytes));
        Assert.Equal(expected, !replaced.AsSpan().SequenceEqual(bytes));
    }
}
