using System.Buffers.Binary;
using System.IO.Hashing;

namespace LlamaGateway.Conversations;

/// <summary>
/// One digest over a sequence of small values (a message's field digests, a tools array's tool digests), equal to
/// <see cref="Digests.Of"/> over their little-endian bytes. The values are collected in the caller's stack buffer and
/// hashed in one call, so the common case allocates nothing; past the buffer they stream into an incremental
/// <see cref="XxHash64"/>, which gives the same digest.
/// </summary>
internal ref struct DigestBuilder
{
    /// <summary>Stack bytes a caller provides: 64 values before the rare spill to an incremental hash.</summary>
    public const int InlineBytes = 512;

    private readonly Span<byte> _buffer;
    private readonly ulong _seed;
    private int _length;
    private XxHash64? _spilled;

    public DigestBuilder(Span<byte> buffer, ulong seed)
    {
        _buffer = buffer;
        _seed = seed;
    }

    public void AppendUInt64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Room(sizeof(ulong)), value);

    public void AppendInt32(int value) => BinaryPrimitives.WriteInt32LittleEndian(Room(sizeof(int)), value);

    public void AppendByte(byte value) => Room(1)[0] = value;

    public ulong GetDigest()
    {
        if (_spilled is null)
        {
            return Digests.Of(_buffer[.._length], _seed);
        }

        _spilled.Append(_buffer[.._length]);
        _length = 0;
        return _spilled.GetCurrentHashAsUInt64();
    }

    private Span<byte> Room(int bytes)
    {
        if (_length + bytes > _buffer.Length)
        {
            _spilled ??= new XxHash64(unchecked((long)_seed));
            _spilled.Append(_buffer[.._length]);
            _length = 0;
        }

        var room = _buffer.Slice(_length, bytes);
        _length += bytes;
        return room;
    }
}
