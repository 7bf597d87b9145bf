using System.Buffers;

namespace LlamaGateway.Pipeline;

/// <summary>
/// A growable <see cref="IBufferWriter{T}"/> over <see cref="ArrayPool{T}"/> arrays, so request bodies of tens of
/// kilobytes do not allocate per request. Dispose returns the array.
/// </summary>
internal sealed class PooledBuffer : IBufferWriter<byte>, IDisposable
{
    private byte[] _array;
    private int _written;

    public PooledBuffer(int initialCapacity = 4096)
    {
        _array = BodyBufferPool.Bytes.Rent(Math.Max(256, initialCapacity));
    }

    public int WrittenCount => _written;

    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, _written);

    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, _written);

    public void Advance(int count)
    {
        if (count < 0 || _written + count > _array.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_written);
    }

    public void Clear() => _written = 0;

    /// <summary>Forgets what was written past the first <paramref name="length"/> bytes.</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _written);
        _written = length;
    }

    public void Dispose()
    {
        var array = _array;
        _array = [];
        _written = 0;
        if (array.Length > 0)
        {
            BodyBufferPool.Bytes.Return(array);
        }
    }

    private void Ensure(int sizeHint)
    {
        var needed = Math.Max(1, sizeHint);
        if (_array.Length - _written >= needed)
        {
            return;
        }

        var newSize = Math.Max(_array.Length * 2, _written + needed);
        var bigger = BodyBufferPool.Bytes.Rent(newSize);
        _array.AsSpan(0, _written).CopyTo(bigger);
        BodyBufferPool.Bytes.Return(_array);
        _array = bigger;
    }
}
