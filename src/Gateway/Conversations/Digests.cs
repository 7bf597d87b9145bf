using System.Buffers.Binary;
using System.IO.Hashing;

namespace LlamaGateway.Conversations;

/// <summary>
/// The content digests conversations are identified by: XXH64 (System.IO.Hashing), stable across processes, machines
/// and .NET versions, because they name slot files on disk.
/// </summary>
internal static class Digests
{
    /// <summary>The XXH64 digest of <paramref name="data"/> with <paramref name="seed"/>.</summary>
    public static ulong Of(ReadOnlySpan<byte> data, ulong seed = 0) => XxHash64.HashToUInt64(data, unchecked((long)seed));

    /// <summary>Hashes two 64-bit values (their little-endian bytes); links a hash chain.</summary>
    public static ulong Combine(ulong first, ulong second)
    {
        Span<byte> pair = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(pair, first);
        BinaryPrimitives.WriteUInt64LittleEndian(pair[8..], second);
        return XxHash64.HashToUInt64(pair);
    }
}
