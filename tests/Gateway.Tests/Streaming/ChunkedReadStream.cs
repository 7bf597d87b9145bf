namespace LlamaGateway.Tests.Streaming;

/// <summary>A read-only stream that hands out its bytes in reads no longer than a chunk size, or split at given offsets.</summary>
internal sealed class ChunkedReadStream : Stream
{
    private readonly byte[] _data;
    private readonly int[] _splits;
    private readonly int _chunkSize;
    private int _position;

    private ChunkedReadStream(byte[] data, int chunkSize, int[] splits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        _data = data;
        _splits = splits;
        _chunkSize = chunkSize;
    }

    /// <summary>Reads return at most <paramref name="chunkSize"/> bytes.</summary>
    public static ChunkedReadStream InChunksOf(byte[] data, int chunkSize) => new(data, chunkSize, []);

    /// <summary>Reads end exactly at each of <paramref name="splits"/> (ascending offsets).</summary>
    public static ChunkedReadStream SplitAt(byte[] data, params int[] splits) => new(data, int.MaxValue, splits);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var limit = Math.Min(_data.Length, _position + (long)_chunkSize);
        foreach (var split in _splits)
        {
            if (split > _position)
            {
                limit = Math.Min(limit, split);
                break;
            }
        }

        var count = (int)Math.Min(buffer.Length, limit - _position);
        _data.AsSpan(_position, count).CopyTo(buffer);
        _position += count;
        return count;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
