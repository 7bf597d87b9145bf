using System.Globalization;
using System.Text;

namespace LlamaGateway.Errors;

/// <summary>
/// Bounds text the gateway did not choose (a client's property name, an upstream's error message) before it goes into
/// an error body, a log line, an instance's LastError or the recent-errors list: a client can send 8 MB names and an
/// upstream can echo a request back in its error, and each copy of that would be kept or sent in full.
/// </summary>
internal static class BoundedText
{
    /// <summary>Characters of foreign text kept in one message.</summary>
    public const int MaxChars = 1024;

    /// <summary>Characters of a whole message the gateway stores or sends (its own words around the foreign text).</summary>
    public const int MaxMessageChars = 2048;

    /// <summary>
    /// <paramref name="text"/> itself when it has at most <paramref name="maxChars"/> characters; otherwise its start,
    /// cut at a character boundary (never between the halves of a surrogate pair), and a marker saying how much was left out.
    /// </summary>
    public static string Truncate(string text, int maxChars = MaxChars)
    {
        if (text.Length <= maxChars)
        {
            return text;
        }

        var cut = maxChars;
        if (char.IsHighSurrogate(text[cut - 1]))
        {
            cut--;
        }

        return string.Concat(text.AsSpan(0, cut), LeftOut(text.Length - cut, "characters"));
    }

    /// <summary>Null stays null; otherwise as <see cref="Truncate(string, int)"/>.</summary>
    public static string? TruncateOrNull(string? text, int maxChars = MaxChars) => text is null ? null : Truncate(text, maxChars);

    /// <summary>
    /// Decodes at most about <paramref name="maxChars"/> characters' worth of UTF-8 from the start of
    /// <paramref name="utf8"/>, cut at a code point boundary, with the marker when bytes were left out. Never decodes the
    /// whole of a large input.
    /// </summary>
    public static string FromUtf8(ReadOnlySpan<byte> utf8, int maxChars = MaxChars)
    {
        if (utf8.Length <= maxChars)
        {
            return Encoding.UTF8.GetString(utf8);
        }

        // maxChars bytes never decode to more than maxChars characters; back off over continuation bytes (10xxxxxx) so
        // the cut falls before a code point's lead byte.
        var cut = maxChars;
        while (cut > 0 && (utf8[cut] & 0xC0) == 0x80)
        {
            cut--;
        }

        return string.Concat(Encoding.UTF8.GetString(utf8[..cut]), LeftOut(utf8.Length - cut, "bytes"));
    }

    /// <summary>The marker that ends truncated text.</summary>
    public static string LeftOut(int left, string unit) =>
        string.Create(CultureInfo.InvariantCulture, $"… [truncated by the gateway: {left:N0} more {unit}]");
}
