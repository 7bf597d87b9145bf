using System.Buffers.Text;
using System.Globalization;

namespace LlamaGateway.Translation;

/// <summary>
/// Output-token limits as llama-server reads them: it takes any JSON number and casts it to int32, so 1e9, 1000.0 and
/// 1E+3 are all integers to it, and a value past int32 is undefined. The gateway reads the number the same way (as an
/// integer in any notation, saturating), then decides what to send.
/// </summary>
internal static class OutputTokenLimit
{
    /// <summary>
    /// The integer a JSON number stands for (128000, 1e9, 1000.0, 99999999999999999999 saturating to long's range);
    /// false for a fraction or a non-finite value. Allocation-free.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> number, out long value)
    {
        if (Utf8Parser.TryParse(number, out value, out var consumed) && consumed == number.Length)
        {
            return true;
        }

        value = 0;
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed)
            || !double.IsFinite(parsed) || parsed != Math.Floor(parsed))
        {
            return false;
        }

        value = parsed >= long.MaxValue ? long.MaxValue : parsed <= long.MinValue ? long.MinValue : (long)parsed;
        return true;
    }

    /// <summary>
    /// What to send: the requested limit clamped to <paramref name="cap"/>; a negative one (llama-server's "no limit")
    /// becomes the cap, or -1 without one; nothing requested becomes the cap, or nothing. Never past int32.
    /// </summary>
    public static int? Effective(long? requested, int? cap) => (requested, cap) switch
    {
        ({ } r, { } c) => r < 0 ? c : (int)Math.Min(r, c),
        ({ } r, null) => r < 0 ? -1 : (int)Math.Min(r, int.MaxValue),
        (null, { } c) => c,
        _ => null,
    };
}
