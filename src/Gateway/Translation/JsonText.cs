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
        for (var at = NextLoneSurrogateEscape(json, 0); at >= 0; at = NextLoneSurrogateEscape(json, at + 6))
        {
            "\\ufffd"u8.CopyTo(json[at..]);
        }
    }

    /// <summary>Whether <see cref="ReplaceLoneSurrogateEscapes"/> would change anything.</summary>
    public static bool HasLoneSurrogateEscape(ReadOnlySpan<byte> json) => NextLoneSurrogateEscape(json, 0) >= 0;

    /// <summary>
    /// Offset of the next <c>\uXXXX</c> escape at or after <paramref name="from"/> that encodes a lone UTF-16
    /// surrogate, or -1. Looks only at "\u" sequences (most bodies have none or few), where a scan of every escape
    /// would stop at each "\n".
    /// </summary>
    private static int NextLoneSurrogateEscape(ReadOnlySpan<byte> json, int from)
    {
        var at = from;
        while (at < json.Length)
        {
            var found = json[at..].IndexOf("\\u"u8);
            if (found < 0)
            {
                return -1;
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
                return at;
            }

            at += 6;
        }

        return -1;
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

    /// <summary>Decodes a whole string token (quotes included) into <paramref name="destination"/>; returns the bytes written.</summary>
    public static int Unescape(ReadOnlySpan<byte> rawStringToken, Span<byte> destination)
    {
        var reader = new Utf8JsonReader(rawStringToken);
        reader.Read();
        return reader.CopyString(destination);
    }
}
