using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LlamaGateway.Conversations;

/// <summary>
/// XXH64 (xxHash, 64-bit), one-shot and incremental. Bit-for-bit the reference algorithm, so digests are stable across
/// processes, machines and .NET versions: they name files on disk. Hand-written because System.IO.Hashing is not
/// available from our package mirror.
/// </summary>
internal struct XxHash64
{
    private const ulong Prime1 = 11400714785074694791UL;
    private const ulong Prime2 = 14029467366897019727UL;
    private const ulong Prime3 = 1609587929392839161UL;
    private const ulong Prime4 = 9650029242287828579UL;
    private const ulong Prime5 = 2870177450012600261UL;
    private const int StripeSize = 32;

    private ulong _acc1;
    private ulong _acc2;
    private ulong _acc3;
    private ulong _acc4;
    private readonly ulong _seed;
    private ulong _totalLength;
    private int _buffered;
    private Stripe _buffer;

    public XxHash64(ulong seed)
    {
        _seed = seed;
        _acc1 = seed + Prime1 + Prime2;
        _acc2 = seed + Prime2;
        _acc3 = seed;
        _acc4 = seed - Prime1;
        _totalLength = 0;
        _buffered = 0;
        _buffer = default;
    }

    /// <summary>Hashes <paramref name="data"/> in one go; equals appending it to a fresh instance.</summary>
    public static ulong Hash(ReadOnlySpan<byte> data, ulong seed = 0)
    {
        if (data.Length < StripeSize)
        {
            return Finish(seed + Prime5 + (ulong)data.Length, data);
        }

        var state = new XxHash64(seed);
        state.Append(data);
        return state.GetDigest();
    }

    /// <summary>Hashes two 64-bit values; used to link a hash chain.</summary>
    public static ulong Combine(ulong first, ulong second)
    {
        Span<byte> pair = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(pair, first);
        BinaryPrimitives.WriteUInt64LittleEndian(pair[8..], second);
        return Finish(Prime5 + 16, pair);
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        _totalLength += (ulong)data.Length;

        // Canonical hashing feeds many tiny pieces (tags, lengths, digests): keep that path short.
        if (_buffered + data.Length < StripeSize)
        {
            data.CopyTo(StripeSpan(ref _buffer)[_buffered..]);
            _buffered += data.Length;
            return;
        }

        if (_buffered > 0)
        {
            var take = StripeSize - _buffered;
            data[..take].CopyTo(StripeSpan(ref _buffer)[_buffered..]);
            data = data[take..];
            ConsumeStripes(StripeSpan(ref _buffer));
            _buffered = 0;
        }

        if (data.Length >= StripeSize)
        {
            var whole = data.Length & ~(StripeSize - 1);
            ConsumeStripes(data[..whole]);
            data = data[whole..];
        }

        if (data.Length > 0)
        {
            data.CopyTo(StripeSpan(ref _buffer));
            _buffered = data.Length;
        }
    }

    public void AppendUInt64(ulong value)
    {
        if (_buffered <= StripeSize - 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(StripeSpan(ref _buffer)[_buffered..], value);
            _totalLength += 8;
            _buffered += 8;
            if (_buffered == StripeSize)
            {
                ConsumeStripes(StripeSpan(ref _buffer));
                _buffered = 0;
            }

            return;
        }

        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        Append(bytes);
    }

    public void AppendInt32(int value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        Append(bytes);
    }

    public void AppendByte(byte value)
    {
        if (_buffered < StripeSize - 1)
        {
            StripeSpan(ref _buffer)[_buffered++] = value;
            _totalLength++;
            return;
        }

        Append(new ReadOnlySpan<byte>(in value));
    }

    public readonly ulong GetDigest()
    {
        ulong acc;
        if (_totalLength >= StripeSize)
        {
            acc = BitOperations.RotateLeft(_acc1, 1) + BitOperations.RotateLeft(_acc2, 7)
                + BitOperations.RotateLeft(_acc3, 12) + BitOperations.RotateLeft(_acc4, 18);
            acc = MergeRound(acc, _acc1);
            acc = MergeRound(acc, _acc2);
            acc = MergeRound(acc, _acc3);
            acc = MergeRound(acc, _acc4);
        }
        else
        {
            acc = _seed + Prime5;
        }

        var copy = _buffer;
        return Finish(acc + _totalLength, StripeSpan(ref copy)[.._buffered]);
    }

    private void ConsumeStripes(ReadOnlySpan<byte> data)
    {
        ulong a1 = _acc1, a2 = _acc2, a3 = _acc3, a4 = _acc4;
        ref var at = ref MemoryMarshal.GetReference(data);
        ref var end = ref Unsafe.Add(ref at, data.Length);
        while (Unsafe.IsAddressLessThan(ref at, ref end))
        {
            a1 = Round(a1, ReadLane(ref at, 0));
            a2 = Round(a2, ReadLane(ref at, 8));
            a3 = Round(a3, ReadLane(ref at, 16));
            a4 = Round(a4, ReadLane(ref at, 24));
            at = ref Unsafe.Add(ref at, StripeSize);
        }

        (_acc1, _acc2, _acc3, _acc4) = (a1, a2, a3, a4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadLane(ref byte stripe, int offset)
    {
        var lane = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref stripe, offset));
        return BitConverter.IsLittleEndian ? lane : BinaryPrimitives.ReverseEndianness(lane);
    }

    // The tail: at most 31 bytes that did not fill a stripe, then the avalanche. acc already includes the length.
    private static ulong Finish(ulong acc, ReadOnlySpan<byte> tail)
    {
        while (tail.Length >= 8)
        {
            acc ^= Round(0, BinaryPrimitives.ReadUInt64LittleEndian(tail));
            acc = (BitOperations.RotateLeft(acc, 27) * Prime1) + Prime4;
            tail = tail[8..];
        }

        if (tail.Length >= 4)
        {
            acc ^= BinaryPrimitives.ReadUInt32LittleEndian(tail) * Prime1;
            acc = (BitOperations.RotateLeft(acc, 23) * Prime2) + Prime3;
            tail = tail[4..];
        }

        foreach (var b in tail)
        {
            acc ^= b * Prime5;
            acc = BitOperations.RotateLeft(acc, 11) * Prime1;
        }

        acc ^= acc >> 33;
        acc *= Prime2;
        acc ^= acc >> 29;
        acc *= Prime3;
        acc ^= acc >> 32;
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Round(ulong acc, ulong lane) => BitOperations.RotateLeft(acc + (lane * Prime2), 31) * Prime1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong MergeRound(ulong acc, ulong value) => ((acc ^ Round(0, value)) * Prime1) + Prime4;

    private static Span<byte> StripeSpan(ref Stripe stripe) => MemoryMarshal.CreateSpan(ref stripe.First, StripeSize);

    [InlineArray(StripeSize)]
    private struct Stripe
    {
        public byte First;
    }
}
