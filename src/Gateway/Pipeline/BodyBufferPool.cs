using System.Buffers;

namespace LlamaGateway.Pipeline;

/// <summary>
/// The pool for buffers sized like a request body (read, normalized, fingerprinted, translated: several per request).
/// Why not ArrayPool.Shared: it keeps only a few arrays of each size per core, so with dozens of 100-200 KB requests
/// in flight most rents missed and allocated large-object-heap arrays; the overhead bench's profile showed the
/// resulting collections as request threads parked in GC. This pool keeps up to 256 arrays per size, so what it
/// retains follows the peak number of requests in flight.
/// </summary>
internal static class BodyBufferPool
{
    public static readonly ArrayPool<byte> Bytes = ArrayPool<byte>.Create(maxArrayLength: 128 * 1024 * 1024, maxArraysPerBucket: 256);
}
