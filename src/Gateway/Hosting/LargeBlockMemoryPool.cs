using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace LlamaGateway.Hosting;

/// <summary>
/// The memory Kestrel reads sockets into, in 32 KiB blocks instead of its default pool's 4 KiB. A Claude Code request
/// body is 40-200 KB and Kestrel receives at most one block per <c>recv</c>, so 4 KiB blocks cost ~25-50 syscalls per
/// request where 32 KiB blocks cost ~4-8; the overhead bench (concurrency 64, 100 KB bodies) spends about a sixth of
/// the gateway's CPU in <c>recv</c>. Blocks are pinned (the socket transport hands them to the kernel) and kept for
/// reuse up to <see cref="MaxPooledBlocks"/>; more are allocated under load and dropped when returned to a full pool.
/// Kestrel holds a block only while it has unread bytes in it, so an idle keep-alive connection holds none.
/// </summary>
internal sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 32 * 1024;

    /// <summary>8 MiB kept for reuse per pool (Kestrel makes one per I/O queue): more than 64 requests of 100 KB in flight need, since each is copied out of the blocks as it arrives.</summary>
    internal const int MaxPooledBlocks = 256;

    private readonly ConcurrentQueue<Block> _free = new();
    private int _freeCount;
    private long _allocated;
    private volatile bool _disposed;

    public override int MaxBufferSize => BlockSize;

    /// <summary>Blocks waiting for reuse now.</summary>
    internal int PooledBlocks => Volatile.Read(ref _freeCount);

    /// <summary>Blocks allocated since the pool was made (reuse keeps this near the peak in use).</summary>
    internal long AllocatedBlocks => Interlocked.Read(ref _allocated);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_free.TryDequeue(out var block))
        {
            Interlocked.Decrement(ref _freeCount);
            block.Take();
            return block;
        }

        Interlocked.Increment(ref _allocated);
        return new Block(this);
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        _free.Clear();
        Volatile.Write(ref _freeCount, 0);
    }

    private void Return(Block block)
    {
        if (_disposed || Interlocked.Increment(ref _freeCount) > MaxPooledBlocks)
        {
            // Over the cap: the array goes to the GC (the pinned object heap), not back into the pool.
            if (!_disposed)
            {
                Interlocked.Decrement(ref _freeCount);
            }

            return;
        }

        _free.Enqueue(block);
    }

    private sealed class Block : IMemoryOwner<byte>
    {
        private readonly LargeBlockMemoryPool _pool;
        private int _rented;

        public Block(LargeBlockMemoryPool pool)
        {
            _pool = pool;
            var array = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
            Memory = MemoryMarshal.CreateFromPinnedArray(array, 0, array.Length);
            _rented = 1;
        }

        public Memory<byte> Memory { get; }

        public void Take() => Volatile.Write(ref _rented, 1);

        public void Dispose()
        {
            // A second dispose must not queue the block twice: two later renters would share one buffer.
            if (Interlocked.Exchange(ref _rented, 0) == 1)
            {
                _pool.Return(this);
            }
        }
    }
}
