namespace LlamaGateway.PrefillChunking;

/// <summary>
/// Where the escaped bytes of a JSON string (the prompt llama-server's <c>/apply-template</c> renders) may be cut so
/// that the part before the cut is itself a valid JSON string body whose text is a prefix of the whole text: never
/// inside an escape sequence (<c>\n</c>, <c>\u00e9</c>, or between the two halves of an escaped surrogate pair) nor
/// inside a UTF-8 sequence. A cut just before a space is preferred: BPE tokenizers start a token there, so the prefix
/// tokenizes as the whole prompt does up to that point and the next request reuses all of it.
/// </summary>
internal static class PromptCut
{
    /// <summary>How far past the wanted position a space is looked for before any boundary will do.</summary>
    public const int SpaceLookahead = 256;

    /// <summary>
    /// The first boundary at or after <paramref name="target"/>, scanning from <paramref name="from"/> (itself a
    /// boundary: 0 or an earlier cut), preferring one just before a space within <see cref="SpaceLookahead"/> bytes;
    /// <c>escaped.Length</c> when the string ends first.
    /// </summary>
    public static int Find(ReadOnlySpan<byte> escaped, int from, int target)
    {
        var at = from;
        var firstBoundary = -1;
        while (at < escaped.Length)
        {
            if (at >= target)
            {
                if (escaped[at] == (byte)' ')
                {
                    return at;
                }

                if (firstBoundary < 0)
                {
                    firstBoundary = at;
                }
                else if (at - firstBoundary >= SpaceLookahead)
                {
                    return firstBoundary;
                }
            }

            at += CharacterLength(escaped, at);
        }

        return firstBoundary >= 0 ? firstBoundary : escaped.Length;
    }

    /// <summary>Bytes of the character that starts at <paramref name="at"/>: an escape sequence, a UTF-8 sequence or one byte.</summary>
    private static int CharacterLength(ReadOnlySpan<byte> escaped, int at)
    {
        var first = escaped[at];
        int length;
        if (first == (byte)'\\')
        {
            length = at + 1 < escaped.Length && escaped[at + 1] == (byte)'u' ? (IsSurrogatePair(escaped, at) ? 12 : 6) : 2;
        }
        else
        {
            length = first switch
            {
                < 0xC0 => 1,
                < 0xE0 => 2,
                < 0xF0 => 3,
                _ => 4,
            };
        }

        return Math.Min(length, escaped.Length - at);
    }

    /// <summary>Whether <c>\uD800-\uDBFF</c> followed by <c>\uDC00-\uDFFF</c> starts at <paramref name="at"/>: one character, cut neither inside nor between.</summary>
    private static bool IsSurrogatePair(ReadOnlySpan<byte> escaped, int at) =>
        at + 12 <= escaped.Length
        && IsSurrogateEscape(escaped.Slice(at, 6), high: true)
        && IsSurrogateEscape(escaped.Slice(at + 6, 6), high: false);

    private static bool IsSurrogateEscape(ReadOnlySpan<byte> escape, bool high) =>
        escape[0] == (byte)'\\' && escape[1] == (byte)'u' && (escape[2] | 0x20) == (byte)'d'
        && (high ? escape[3] is (byte)'8' or (byte)'9' or (byte)'a' or (byte)'A' or (byte)'b' or (byte)'B'
                 : escape[3] is (byte)'c' or (byte)'C' or (byte)'d' or (byte)'D' or (byte)'e' or (byte)'E' or (byte)'f' or (byte)'F');
}
