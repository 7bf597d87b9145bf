using System.Buffers;

namespace LlamaGateway.Normalization;

/// <summary>
/// The minimal JSON string escaping the gateway uses for text it writes itself (normalizer and translator alike):
/// quote, backslash and control characters only, as JavaScriptEncoder.UnsafeRelaxedJsonEscaping would; never
/// non-ASCII or HTML characters.
/// </summary>
internal static class JsonStringEscape
{
    /// <summary>The longest escape <see cref="Write"/> produces (<c>\u00XX</c>).</summary>
    public const int MaxLength = 6;

    /// <summary>The bytes that must be escaped inside a JSON string.</summary>
    public static readonly SearchValues<byte> NeedsEscaping = SearchValues.Create(
        [.. Enumerable.Range(0, 0x20).Select(b => (byte)b), (byte)'"', (byte)'\\']);

    /// <summary>Writes the escape for <paramref name="b"/> (one of <see cref="NeedsEscaping"/>); returns its length.</summary>
    public static int Write(byte b, Span<byte> destination)
    {
        destination[0] = (byte)'\\';
        var shortForm = b switch
        {
            (byte)'"' => (byte)'"',
            (byte)'\\' => (byte)'\\',
            (byte)'\n' => (byte)'n',
            (byte)'\r' => (byte)'r',
            (byte)'\t' => (byte)'t',
            (byte)'\b' => (byte)'b',
            (byte)'\f' => (byte)'f',
            _ => (byte)0,
        };
        if (shortForm != 0)
        {
            destination[1] = shortForm;
            return 2;
        }

        destination[1] = (byte)'u';
        destination[2] = (byte)'0';
        destination[3] = (byte)'0';
        destination[4] = (byte)"0123456789ABCDEF"[b >> 4];
        destination[5] = (byte)"0123456789ABCDEF"[b & 0xF];
        return MaxLength;
    }
}
