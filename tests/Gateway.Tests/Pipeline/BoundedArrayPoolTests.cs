using LlamaGateway.Pipeline;

namespace LlamaGateway.Tests.Pipeline;

public sealed class BoundedArrayPoolTests
{
    private const int MaxPooled = 64 * 1024;

    [Fact]
    public void Rent_SmallAfterReturn_SameArrayReused()
    {
        var pool = new BoundedArrayPool<byte>(MaxPooled, maxRetainedBytes: 1024 * 1024, maxArraysPerBucket: 8, reclaimLarge: false);

        var first = pool.Rent(1000);
        pool.Return(first);
        var second = pool.Rent(900);

        Assert.Same(first, second);
        Assert.Equal(1024, first.Length);
        Assert.Equal(0, pool.RetainedBytes);
    }

    [Fact]
    public void Rent_LargerThanPooled_ExactSizeNeverKept()
    {
        var pool = new BoundedArrayPool<byte>(MaxPooled, maxRetainedBytes: 1024 * 1024, maxArraysPerBucket: 8, reclaimLarge: false);

        var large = pool.Rent(MaxPooled + 1);
        pool.Return(large);
        var again = pool.Rent(MaxPooled + 1);

        Assert.Equal(MaxPooled + 1, large.Length);
        Assert.NotSame(large, again);
        Assert.Equal(0, pool.RetainedBytes);
        Assert.Equal(1, pool.DroppedArrays);
    }

    [Fact]
    public void Return_PastTheByteBudget_Dropped()
    {
        var pool = new BoundedArrayPool<byte>(MaxPooled, maxRetainedBytes: 2 * MaxPooled, maxArraysPerBucket: 256, reclaimLarge: false);
        var arrays = Enumerable.Range(0, 5).Select(_ => pool.Rent(MaxPooled)).ToList();

        arrays.ForEach(a => pool.Return(a));

        Assert.Equal(2 * MaxPooled, pool.RetainedBytes);
        Assert.Equal(3, pool.DroppedArrays);
    }

    [Fact]
    public void Return_PastTheBucketCount_Dropped()
    {
        var pool = new BoundedArrayPool<byte>(MaxPooled, maxRetainedBytes: long.MaxValue, maxArraysPerBucket: 2, reclaimLarge: false);
        var arrays = Enumerable.Range(0, 3).Select(_ => pool.Rent(256)).ToList();

        arrays.ForEach(a => pool.Return(a));

        Assert.Equal(512, pool.RetainedBytes);
        Assert.Equal(1, pool.DroppedArrays);
    }

    [Fact]
    public void Return_ArrayOfAnotherSize_Dropped()
    {
        var pool = new BoundedArrayPool<byte>(MaxPooled, maxRetainedBytes: 1024 * 1024, maxArraysPerBucket: 8, reclaimLarge: false);

        pool.Return(new byte[1000]);
        pool.Return([]);

        Assert.Equal(0, pool.RetainedBytes);
        Assert.Equal(1, pool.DroppedArrays);
    }

    [Fact]
    public void Return_Clear_Zeroed()
    {
        var pool = new BoundedArrayPool<int>(MaxPooled, maxRetainedBytes: 1024 * 1024, maxArraysPerBucket: 8, reclaimLarge: false);
        var array = pool.Rent(16);
        array.AsSpan().Fill(7);

        pool.Return(array, clearArray: true);

        Assert.All(pool.Rent(16), value => Assert.Equal(0, value));
    }

    [Fact]
    public void RetainedBytes_CountsElementSize()
    {
        var pool = new BoundedArrayPool<long>(1024, maxRetainedBytes: 1024 * 1024, maxArraysPerBucket: 8, reclaimLarge: false);

        pool.Return(pool.Rent(100));

        Assert.Equal(128 * sizeof(long), pool.RetainedBytes);
    }

    [Fact]
    public async Task RentAndReturn_Concurrently_RetainedStaysWithinBudget()
    {
        var pool = new BoundedArrayPool<byte>(MaxPooled, maxRetainedBytes: 4 * MaxPooled, maxArraysPerBucket: 256, reclaimLarge: false);
        var overBudget = 0;

        await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(() =>
        {
            var random = new Random(worker);
            for (var i = 0; i < 20_000; i++)
            {
                var array = pool.Rent(random.Next(1, MaxPooled * 2));
                array[0] = (byte)worker;
                pool.Return(array);
                if (pool.RetainedBytes is > 4 * MaxPooled or < 0)
                {
                    Interlocked.Increment(ref overBudget);
                }
            }
        })));

        Assert.Equal(0, overBudget);
        Assert.InRange(pool.RetainedBytes, 0, 4 * MaxPooled);
    }
}
