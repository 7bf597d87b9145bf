namespace LlamaGateway.Normalization;

/// <summary>
/// Finds and rewrites Claude Code's <c>x-anthropic-billing-header: ...</c> line in unescaped UTF-8 text. Its value
/// (cc_version suffix, cch) changes per conversation or per request and sits in the first tokens of the prompt, so
/// leaving it breaks every KV-cache prefix match. Matching is ordinal: clients send the key in lower case.
/// </summary>
internal static class BillingLine
{
    public static ReadOnlySpan<byte> Key => "x-anthropic-billing-header:"u8;

    /// <summary>
    /// Cheap test on a raw (possibly still escaped) JSON string value: false means its text certainly does not start
    /// with the billing line, so a large string need not be unescaped just to look at its first bytes.
    /// </summary>
    public static bool MayStartWith(ReadOnlySpan<byte> rawValue)
    {
        var common = rawValue.CommonPrefixLength(Key);
        // The key holds no backslash, so an escape before the first mismatch could still spell it (\u0078...).
        return common == Key.Length || (common < rawValue.Length && rawValue[common] == (byte)'\\');
    }

    /// <summary>Whether removing the first line (the billing line) leaves nothing.</summary>
    public static bool IsAllOfText(ReadOnlySpan<byte> text)
    {
        if (!text.StartsWith(Key))
        {
            return false;
        }

        var newline = text.IndexOf((byte)'\n');
        return newline < 0 || newline == text.Length - 1;
    }

    /// <summary>
    /// Rewrites the billing line(s) of <paramref name="text"/> into <paramref name="output"/> (appended) and returns
    /// how many it handled. Returns 0 and writes nothing when there is none or the mode is Keep.
    /// </summary>
    /// <param name="anyLine">Match at every line start (raw prompts behind a chat-template prefix), not only the first.</param>
    public static int Rewrite(ReadOnlySpan<byte> text, bool anyLine, BillingHeaderMode mode, ReadOnlySpan<byte> value, ref ScratchBuffer output)
    {
        if (mode == BillingHeaderMode.Keep)
        {
            return 0;
        }

        var count = 0;
        var copied = 0;
        var searchFrom = 0;
        while (true)
        {
            var lineStart = FindLine(text, searchFrom, anyLine);
            if (lineStart < 0)
            {
                break;
            }

            var newline = text[lineStart..].IndexOf((byte)'\n');
            var lineEnd = newline < 0 ? text.Length : lineStart + newline;
            output.Append(text[copied..lineStart]);
            if (mode == BillingHeaderMode.Replace)
            {
                output.Append(Key);
                output.Append((byte)' ');
                output.Append(value);
                // Keep a CRLF line ending as it was.
                copied = lineEnd > lineStart && text[lineEnd - 1] == (byte)'\r' ? lineEnd - 1 : lineEnd;
            }
            else
            {
                copied = newline < 0 ? lineEnd : lineEnd + 1;
            }

            count++;
            if (!anyLine || lineEnd >= text.Length)
            {
                break;
            }

            searchFrom = lineEnd + 1;
        }

        if (count > 0)
        {
            output.Append(text[copied..]);
        }

        return count;
    }

    private static int FindLine(ReadOnlySpan<byte> text, int from, bool anyLine)
    {
        if (!anyLine)
        {
            return from == 0 && text.StartsWith(Key) ? 0 : -1;
        }

        while (from < text.Length)
        {
            var hit = text[from..].IndexOf(Key);
            if (hit < 0)
            {
                return -1;
            }

            var at = from + hit;
            if (at == 0 || text[at - 1] == (byte)'\n')
            {
                return at;
            }

            from = at + 1;
        }

        return -1;
    }
}
