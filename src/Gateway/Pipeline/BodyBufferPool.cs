using System.Buffers;

namespace LlamaGateway.Pipeline;

/// <summary>
/// The pool for buffers sized like a request body (read, normalized, fingerprinted, translated: several per request).
/// Why not ArrayPool.Shared: it keeps only a few arrays of each size per core, so with dozens of 100-200 KB requests
/// in flight most rents missed and allocated large-object-heap arrays; the overhead bench's profile showed the
/// resulting collections as request threads parked in GC. This pool keeps up to 256 arrays per size, so what it
/// retains follows the peak number of requests in flight, but only arrays up to 4 MiB (a long Claude Code
/// conversation's body is well under that) and no more than 64 MiB of them in all (the overhead bench's 64 requests
/// of 200 KB in flight need about 40): a burst of 30 MB bodies is allocated, used and left to the GC.
/// </summary>
internal static class BodyBufferPool
{
    public static readonly BoundedArrayPool<byte> Bytes = new(maxPooledLength: 4 * 1024 * 1024, maxRetainedBytes: 64L * 1024 * 1024, maxArraysPerBucket: 256);
}
