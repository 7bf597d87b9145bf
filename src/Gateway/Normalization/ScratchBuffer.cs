using System.Buffers;
using LlamaGateway.Pipeline;
using System.Text.Json;

namespace LlamaGateway.Normalization;

/// <summary>
/// A growable byte buffer rented from <see cref="ArrayPool{T}"/>, for unescaped JSON strings and rewritten text, so
/// the hot path allocates nothing. A mutable struct: keep it in a field or local and pass it by <c>ref</c>.
/// </summary>
internal struct ScratchBuffer : IDisposable
{
    private byte[]? _array;
    private int _length;

    public readonly int Length => _length;

    public readonly ReadOnlySpan<byte> WrittenSpan => _array is null ? default : _array.AsSpan(0, _length);

    public readonly ReadOnlySpan<byte> Slice(int start, int length) => WrittenSpan.Slice(start, length);

    public void Clear() => _length = 0;

    public void Truncate(int length) => _length = Math.Min(_length, length);

    public void Append(ReadOnlySpan<byte> data)
    {
        EnsureCapacity(data.Length);
        data.CopyTo(_array.AsSpan(_length));
        _length += data.Length;
    }

    public void Append(byte value)
    {
        EnsureCapacity(1);
        _array![_length++] = value;
    }

    /// <summary>Appends the current string token unescaped; returns where it starts in this buffer.</summary>
    public int AppendUnescaped(ref JsonTokenizer reader)
    {
        var start = _length;
        if (!reader.ValueIsEscaped)
        {
            Append(reader.ValueSpan);
            return start;
        }

        // Unescaping never lengthens a JSON string, so its raw length is enough room (plus slack for block copies).
        EnsureCapacity(reader.ValueSpan.Length + JsonTokenizer.UnescapeSlack);
        _length += reader.CopyString(_array.AsSpan(_length));
        return start;
    }

    /// <summary>
    /// The current string token unescaped: the reader's own bytes when it has no escapes (no copy), else this buffer's
    /// contents after clearing it.
    /// </summary>
    public ReadOnlySpan<byte> Unescape(ref JsonTokenizer reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return reader.ValueSpan;
        }

        _length = 0;
        AppendUnescaped(ref reader);
        return WrittenSpan;
    }

    public void Dispose()
    {
        if (_array is not null)
        {
            BodyBufferPool.Bytes.Return(_array);
            _array = null;
            _length = 0;
        }
    }

    private void EnsureCapacity(int extra)
    {
        var needed = _length + extra;
        if (_array is not null && needed <= _array.Length)
        {
            return;
        }

        var grown = BodyBufferPool.Bytes.Rent(Math.Max(needed, Math.Max(256, (_array?.Length ?? 0) * 2)));
        if (_array is not null)
        {
            _array.AsSpan(0, _length).CopyTo(grown);
            BodyBufferPool.Bytes.Return(_array);
        }

        _array = grown;
    }
}
