using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace LlamaGateway.Translation;

/// <summary>JSON helpers shared by the translators: one writer configuration and allocation-free string access.</summary>
internal static class JsonText
{
    /// <summary>
    /// Compact output with relaxed escaping: non-ASCII text stays as UTF-8 instead of \uXXXX, which keeps bodies small
    /// and makes the bytes depend only on the decoded text, never on how the client happened to escape it.
    /// </summary>
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    public static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 256 };

    /// <summary>
    /// Writes the decoded text of a JSON string element as one segment of a string value that the caller started (or
    /// continues) with <see cref="Utf8JsonWriter.WriteStringValueSegment(ReadOnlySpan{byte}, bool)"/>.
    /// </summary>
    public static void WriteSegment(Utf8JsonWriter writer, JsonElement stringElement, bool isFinalSegment)
    {
        var raw = JsonMarshal.GetRawUtf8Value(stringElement);
        var inner = raw[1..^1];
        if (inner.IndexOf((byte)'\\') < 0)
        {
            writer.WriteStringValueSegment(inner, isFinalSegment);
            return;
        }

        // Unescaped text is never longer than its escaped form.
        var scratch = ArrayPool<byte>.Shared.Rent(inner.Length);
        try
        {
            var length = Unescape(raw, scratch);
            writer.WriteStringValueSegment(scratch.AsSpan(0, length), isFinalSegment);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Whether a string element decodes to the empty string.</summary>
    public static bool IsEmptyString(JsonElement stringElement) => JsonMarshal.GetRawUtf8Value(stringElement).Length == 2;

    /// <summary>Decodes a string element's text into <paramref name="output"/>.</summary>
    public static void WriteDecoded(JsonElement stringElement, IBufferWriter<byte> output)
    {
        var raw = JsonMarshal.GetRawUtf8Value(stringElement);
        var inner = raw[1..^1];
        if (inner.IndexOf((byte)'\\') < 0)
        {
            output.Write(inner);
            return;
        }

        var span = output.GetSpan(inner.Length);
        output.Advance(Unescape(raw, span));
    }

    /// <summary>
    /// Rewrites, in place, every <c>\uXXXX</c> escape of a lone UTF-16 surrogate to <c>\ufffd</c> (same length).
    /// JavaScript's JSON.stringify emits such escapes for broken text, and System.Text.Json refuses to decode them;
    /// replacing them keeps a conversation that once contained one usable, and deterministically so.
    /// </summary>
    public static void ReplaceLoneSurrogateEscapes(Span<byte> json)
    {
        var i = json.IndexOf((byte)'\\');
        while (i >= 0 && i + 1 < json.Length)
        {
            if (json[i + 1] != (byte)'u' || !TryReadHex(json, i + 2, out var unit))
            {
                // Any other escape is two bytes; skipping both keeps "\\u" (an escaped backslash) from matching.
                i = Next(json, i + 2);
                continue;
            }

            if (unit is >= 0xD800 and <= 0xDBFF
                && i + 11 < json.Length && json[i + 6] == (byte)'\\' && json[i + 7] == (byte)'u'
                && TryReadHex(json, i + 8, out var low) && low is >= 0xDC00 and <= 0xDFFF)
            {
                i = Next(json, i + 12);
                continue;
            }

            if (unit is >= 0xD800 and <= 0xDFFF)
            {
                "\\ufffd"u8.CopyTo(json[i..]);
            }

            i = Next(json, i + 6);
        }

        static int Next(Span<byte> json, int from)
        {
            if (from >= json.Length)
            {
                return -1;
            }

            var next = json[from..].IndexOf((byte)'\\');
            return next < 0 ? -1 : from + next;
        }
    }

    /// <summary>
    /// Whether <see cref="ReplaceLoneSurrogateEscapes"/> would change anything. Looks only at "\u" sequences (most
    /// bodies have none or few), where a full scan would stop at every "\n".
    /// </summary>
    public static bool HasLoneSurrogateEscape(ReadOnlySpan<byte> json)
    {
        var at = 0;
        while (true)
        {
            var found = json[at..].IndexOf("\\u"u8);
            if (found < 0)
            {
                return false;
            }

            at += found;
            if (!StartsEscape(json, at) || !TryReadHex(json, at + 2, out var unit))
            {
                at += 2;
                continue;
            }

            if (unit is >= 0xD800 and <= 0xDBFF
                && at + 11 < json.Length && json[at + 6] == (byte)'\\' && json[at + 7] == (byte)'u'
                && TryReadHex(json, at + 8, out var low) && low is >= 0xDC00 and <= 0xDFFF)
            {
                at += 12;
                continue;
            }

            if (unit is >= 0xD800 and <= 0xDFFF)
            {
                return true;
            }

            at += 6;
        }
    }

    /// <summary>True when the backslash at <paramref name="at"/> starts an escape (is not itself escaped).</summary>
    private static bool StartsEscape(ReadOnlySpan<byte> json, int at)
    {
        var count = 0;
        while (at - count - 1 >= 0 && json[at - count - 1] == (byte)'\\')
        {
            count++;
        }

        return count % 2 == 0;
    }

    private static bool TryReadHex(ReadOnlySpan<byte> json, int at, out int value)
    {
        value = 0;
        if (at + 4 > json.Length)
        {
            return false;
        }

        for (var k = 0; k < 4; k++)
        {
            var c = json[at + k];
            var digit = c switch
            {
                >= (byte)'0' and <= (byte)'9' => c - '0',
                >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
                _ => -1,
            };
            if (digit < 0)
            {
                return false;
            }

            value = (value << 4) | digit;
        }

        return true;
    }

    private static int Unescape(ReadOnlySpan<byte> rawStringToken, Span<byte> destination)
    {
        var reader = new Utf8JsonReader(rawStringToken);
        reader.Read();
        return reader.CopyString(destination);
    }
}
