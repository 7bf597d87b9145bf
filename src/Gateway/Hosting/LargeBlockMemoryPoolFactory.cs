using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace LlamaGateway.Hosting;

/// <summary>
/// Gives Kestrel's socket transport <see cref="LargeBlockMemoryPool"/>s: ASP.NET Core 10's servers take their pools
/// from the <see cref="IMemoryPoolFactory{T}"/> in dependency injection, so registering this one replaces the 4 KiB
/// default for every connection the gateway accepts.
/// </summary>
internal sealed class LargeBlockMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    private readonly ConcurrentQueue<LargeBlockMemoryPool> _created = new();

    /// <summary>The pools handed out so far (a few: one per transport I/O queue).</summary>
    internal IEnumerable<LargeBlockMemoryPool> Created => _created;

    public MemoryPool<byte> Create(MemoryPoolOptions? options = null)
    {
        var pool = new LargeBlockMemoryPool();
        _created.Enqueue(pool);
        return pool;
    }
}
