using System.Buffers;
using System.Numerics;

namespace LlamaGateway.Pipeline;

/// <summary>
/// An <see cref="ArrayPool{T}"/> whose retained memory the gateway bounds, not its clients: arrays up to
/// <c>maxPooledLength</c> are kept for reuse (power-of-two buckets, as <see cref="ArrayPool{T}.Create(int, int)"/>), but
/// only while all kept arrays together stay within <c>maxRetainedBytes</c>; larger arrays are allocated for the one
/// request and left to the GC when returned. With <see cref="ArrayPool{T}.Create(int, int)"/> (256 arrays per bucket up
/// to 128 MB) every array a burst of large bodies rented stayed in the pool for good: 24 concurrent 30 MB
/// count_tokens requests left the gateway at 980 MB resident, idle. <see cref="LargeArrayReclaimer"/> sees the large
/// arrays out and back, so their memory is given back once a burst is over.
/// </summary>
internal sealed class BoundedArrayPool<T> : ArrayPool<T>
{
    private const int MinLength = 16;

    private readonly Bucket[] _buckets;
    private readonly int _maxPooledLength;
    private readonly long _maxRetainedBytes;
    private readonly int _elementSize;
    private long _retainedBytes;
    private long _droppedArrays;

    private readonly bool _reclaimLarge;

    /// <param name="reclaimLarge">Whether large arrays are reported to <see cref="LargeArrayReclaimer"/> (the gateway's pools; not a test's own).</param>
    public BoundedArrayPool(int maxPooledLength, long maxRetainedBytes, int maxArraysPerBucket, bool reclaimLarge = true)
    {
        _reclaimLarge = reclaimLarge;
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPooledLength, MinLength);
        _maxPooledLength = (int)BitOperations.RoundUpToPowerOf2((uint)maxPooledLength);
        _maxRetainedBytes = maxRetainedBytes;
        _elementSize = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        _buckets = new Bucket[BucketIndex(_maxPooledLength) + 1];
        for (var i = 0; i < _buckets.Length; i++)
        {
            _buckets[i] = new Bucket(MinLength << i, maxArraysPerBucket);
        }
    }

    /// <summary>Bytes held by arrays waiting in the pool now (never more than the budget).</summary>
    internal long RetainedBytes => Interlocked.Read(ref _retainedBytes);

    /// <summary>Arrays returned and left to the GC so far: larger than pooled, or over the budget.</summary>
    internal long DroppedArrays => Interlocked.Read(ref _droppedArrays);

    /// <summary>Called with each array rented past the pooled size (tests watch them with weak references).</summary>
    internal Action<T[]>? LargeRented { get; set; }

    /// <summary>The largest array length the pool keeps.</summary>
    internal int MaxPooledLength => _maxPooledLength;

    public override T[] Rent(int minimumLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimumLength);
        if (minimumLength == 0)
        {
            return [];
        }

        if (minimumLength > _maxPooledLength)
        {
            // Exactly the size asked for: it is used once, so rounding up would only waste memory.
            var large = GC.AllocateUninitializedArray<T>(minimumLength);
            if (_reclaimLarge)
            {
                LargeArrayReclaimer.Rented(Bytes(minimumLength));
            }

            LargeRented?.Invoke(large);
            return large;
        }

        var bucket = _buckets[BucketIndex(minimumLength)];
        if (bucket.TryPop(out var array))
        {
            Interlocked.Add(ref _retainedBytes, -Bytes(array.Length));
            return array;
        }

        return GC.AllocateUninitializedArray<T>(bucket.Length);
    }

    public override void Return(T[] array, bool clearArray = false)
    {
        ArgumentNullException.ThrowIfNull(array);
        if (array.Length == 0)
        {
            return;
        }

        if (array.Length > _maxPooledLength)
        {
            Interlocked.Increment(ref _droppedArrays);
            if (_reclaimLarge)
            {
                LargeArrayReclaimer.Dropped(Bytes(array.Length));
            }

            return;
        }

        if (array.Length < MinLength || !BitOperations.IsPow2(array.Length))
        {
            // Not one of this pool's sizes (an array rented elsewhere): left to the GC.
            Interlocked.Increment(ref _droppedArrays);
            return;
        }

        var bytes = Bytes(array.Length);
        if (Interlocked.Add(ref _retainedBytes, bytes) > _maxRetainedBytes)
        {
            Interlocked.Add(ref _retainedBytes, -bytes);
            Interlocked.Increment(ref _droppedArrays);
            return;
        }

        if (clearArray)
        {
            Array.Clear(array);
        }

        if (!_buckets[BucketIndex(array.Length)].TryPush(array))
        {
            Interlocked.Add(ref _retainedBytes, -bytes);
            Interlocked.Increment(ref _droppedArrays);
        }
    }

    private static int BucketIndex(int length) => BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)Math.Max(length, MinLength)) / MinLength);

    private long Bytes(int length) => (long)length * _elementSize;

    /// <summary>One size's arrays: a stack under a lock held for a push or a pop.</summary>
    private sealed class Bucket(int length, int capacity)
    {
        private readonly Lock _gate = new();
        private readonly T[]?[] _arrays = new T[capacity][];
        private int _count;

        public int Length => length;

        public bool TryPop(out T[] array)
        {
            lock (_gate)
            {
                if (_count == 0)
                {
                    array = [];
                    return false;
                }

                array = _arrays[--_count]!;
                _arrays[_count] = null;
                return true;
            }
        }

        public bool TryPush(T[] array)
        {
            lock (_gate)
            {
                if (_count == _arrays.Length)
                {
                    return false;
                }

                _arrays[_count++] = array;
                return true;
            }
        }
    }
}
