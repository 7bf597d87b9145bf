using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlamaGateway.Normalization;

/// <summary>Lengths of valid UTF-8 text in UTF-16 code units (what <c>string.Length</c> would say), without decoding.</summary>
internal static class TextLength
{
    /// <summary>
    /// Every byte that is not a continuation byte starts a character, and 4-byte sequences are two UTF-16 units.
    /// Inlined SIMD because it runs on every string of a body, most of them a few bytes long.
    /// </summary>
    public static int Utf16(ReadOnlySpan<byte> utf8)
    {
        var adjust = 0;
        var at = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref var start = ref MemoryMarshal.GetReference(utf8);
            var topBits = Vector256.Create((byte)0xC0);
            var continuation = Vector256.Create((byte)0x80);
            var fourByteLead = Vector256.Create((byte)0xEF);
            for (; at + Vector256<byte>.Count <= utf8.Length; at += Vector256<byte>.Count)
            {
                var chunk = Vector256.LoadUnsafe(ref start, (nuint)at);
                if (chunk.ExtractMostSignificantBits() == 0)
                {
                    continue;
                }

                adjust -= BitOperations.PopCount(Vector256.Equals(chunk & topBits, continuation).ExtractMostSignificantBits());
                adjust += BitOperations.PopCount(Vector256.GreaterThan(chunk, fourByteLead).ExtractMostSignificantBits());
            }
        }

        for (; at < utf8.Length; at++)
        {
            var b = utf8[at];
            if (b >= 0x80)
            {
                adjust += (b & 0xC0) == 0x80 ? -1 : b >= 0xF0 ? 1 : 0;
            }
        }

        return utf8.Length + adjust;
    }
}
