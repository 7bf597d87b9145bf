using System.Globalization;
using System.Text;

namespace LlamaGateway.Normalization;

/// <summary>
/// Text the client chose (a property name, a number as written, a reader's message about the body) on its way into an
/// error message, cut to about 1 KB with a marker. An error text is copied into the 400 body, the log line and the
/// recent-errors list, so without the cut one request with an 8 MB property name costs tens of megabytes that stay
/// reachable. Error path only: it allocates.
/// </summary>
internal static class ClientText
{
    /// <summary>The most characters of one client-chosen piece an error message carries.</summary>
    public const int MaxChars = 1024;

    /// <summary><paramref name="text"/> itself when short enough, else its start and how long it was.</summary>
    public static string Truncate(string text)
    {
        if (text.Length <= MaxChars)
        {
            return text;
        }

        // Never split a surrogate pair: the error body must stay valid UTF-16 (and so valid JSON once escaped).
        var keep = char.IsHighSurrogate(text[MaxChars - 1]) ? MaxChars - 1 : MaxChars;
        return string.Create(CultureInfo.InvariantCulture, $"{text.AsSpan(0, keep)}...[truncated, {text.Length:N0} chars]");
    }

    /// <summary>
    /// UTF-8 bytes as text, decoding no more than the part that is kept (a name of 8 MB is never turned into an
    /// 8 MB string just to be cut).
    /// </summary>
    public static string FromUtf8(ReadOnlySpan<byte> utf8)
    {
        var limit = MaxChars * 4;
        if (utf8.Length <= limit)
        {
            return Truncate(Encoding.UTF8.GetString(utf8));
        }

        // Back off continuation bytes so the cut falls between characters.
        while (limit > 0 && (utf8[limit] & 0xC0) == 0x80)
        {
            limit--;
        }

        var head = Encoding.UTF8.GetString(utf8[..limit]);
        if (head.Length > MaxChars)
        {
            head = head[..(char.IsHighSurrogate(head[MaxChars - 1]) ? MaxChars - 1 : MaxChars)];
        }

        return string.Create(CultureInfo.InvariantCulture, $"{head}...[truncated, {utf8.Length:N0} bytes]");
    }

    /// <summary>
    /// The string or name the reader is on, decoded and cut. A long escaped one is shown as written (escapes and all)
    /// rather than decoded whole.
    /// </summary>
    public static string Current(ref JsonTokenizer reader) =>
        !reader.ValueIsEscaped || reader.ValueSpan.Length > MaxChars * 4
            ? FromUtf8(reader.ValueSpan)
            : Truncate(reader.GetString());
}
