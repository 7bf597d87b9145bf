using System.Runtime.InteropServices;
using LlamaGateway.Hosting;

namespace LlamaGateway.Tests.Hosting;

public sealed class LargeBlockMemoryPoolTests
{
    private static byte[] ArrayOf(Memory<byte> memory) =>
        MemoryMarshal.TryGetArray<byte>(memory, out var segment) ? segment.Array! : throw new InvalidOperationException("not array-backed");

    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(LargeBlockMemoryPool.BlockSize)]
    public void Rent_AnySizeUpToABlock_GivesAWholeBlock(int size)
    {
        using var pool = new LargeBlockMemoryPool();
        using var block = pool.Rent(size);
        Assert.Equal(LargeBlockMemoryPool.BlockSize, block.Memory.Length);
        Assert.Equal(LargeBlockMemoryPool.BlockSize, pool.MaxBufferSize);
    }

    [Fact]
    public void Rent_MoreThanABlock_Throws()
    {
        using var pool = new LargeBlockMemoryPool();
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(LargeBlockMemoryPool.BlockSize + 1));
    }

    [Fact]
    public void Rent_AfterReturn_ReusesTheBlock()
    {
        using var pool = new LargeBlockMemoryPool();
        var first = pool.Rent();
        var array = ArrayOf(first.Memory);
        first.Dispose();
        Assert.Equal(1, pool.PooledBlocks);

        using var second = pool.Rent();
        Assert.Same(array, ArrayOf(second.Memory));
        Assert.Equal(1, pool.AllocatedBlocks);
        Assert.Equal(0, pool.PooledBlocks);
    }

    [Fact]
    public void Dispose_Twice_BlockPooledOnce()
    {
        using var pool = new LargeBlockMemoryPool();
        var block = pool.Rent();
        block.Dispose();
        block.Dispose();
        Assert.Equal(1, pool.PooledBlocks);

        // Two renters must never share one buffer.
        using var a = pool.Rent();
        using var b = pool.Rent();
        Assert.NotSame(ArrayOf(a.Memory), ArrayOf(b.Memory));
    }

    [Fact]
    public void Return_PoolFull_ExtraBlocksDropped()
    {
        using var pool = new LargeBlockMemoryPool();
        var blocks = Enumerable.Range(0, LargeBlockMemoryPool.MaxPooledBlocks + 10).Select(_ => pool.Rent()).ToList();
        foreach (var block in blocks)
        {
            block.Dispose();
        }

        Assert.Equal(LargeBlockMemoryPool.MaxPooledBlocks, pool.PooledBlocks);
        Assert.Equal(LargeBlockMemoryPool.MaxPooledBlocks + 10, pool.AllocatedBlocks);
    }

    [Fact]
    public void Rent_AfterPoolDisposed_Throws()
    {
        var pool = new LargeBlockMemoryPool();
        var block = pool.Rent();
        pool.Dispose();
        block.Dispose();
        Assert.Equal(0, pool.PooledBlocks);
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());
    }
}
