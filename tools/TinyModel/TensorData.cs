using System.Buffers.Binary;

namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// Produces tensor contents as streaming writers for <see cref="GgufTensor"/>, encoding F32 or F16 little-endian.
/// </summary>
internal static class TensorData
{
    // Large enough to amortise Stream.Write calls, small enough to stay out of the large object heap.
    private const int ChunkElements = 16 * 1024;

    /// <summary>Values drawn from N(0, std²), deterministic for a given seed and tensor name.</summary>
    public static Action<Stream> Normal(ulong seed, string tensorName, long count, double std, GgmlType type) =>
        stream =>
        {
            var random = new WeightRandom(seed, tensorName);
            WriteValues(stream, count, type, () => (float)(random.NextGaussian() * std));
        };

    /// <summary>Every element the same value: RMS-norm gains of 1.0 keep activations at their natural scale.</summary>
    public static Action<Stream> Constant(float value, long count, GgmlType type) =>
        stream => WriteValues(stream, count, type, () => value);

    private static void WriteValues(Stream stream, long count, GgmlType type, Func<float> next)
    {
        int width = type == GgmlType.F16 ? 2 : 4;
        byte[] buffer = new byte[ChunkElements * width];
        long remaining = count;
        while (remaining > 0)
        {
            int n = (int)Math.Min(remaining, ChunkElements);
            Span<byte> span = buffer.AsSpan(0, n * width);
            for (int i = 0; i < n; i++)
            {
                float value = next();
                if (type == GgmlType.F16)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(span[(i * 2)..], (Half)value);
                }
                else
                {
                    BinaryPrimitives.WriteSingleLittleEndian(span[(i * 4)..], value);
                }
            }

            stream.Write(span);
            remaining -= n;
        }
    }
}
