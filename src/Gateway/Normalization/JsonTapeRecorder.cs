using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Json;

namespace LlamaGateway.Normalization;

/// <summary>
/// Records the tape of what a <see cref="JsonEmitter"/> writes, as it writes it: the normalizer knows every token it
/// emits (kind, position, whether a string is escaped and its decoded length, which its tokenizer counted), so the
/// normalized body's <see cref="JsonTape"/> comes for free instead of from a second scan of ~100 KB. The result is
/// entry for entry what <see cref="JsonTape.Parse"/> would build from the same bytes (tests hold it to that). Output
/// spliced together from raw pieces cannot be followed: <see cref="Invalidate"/> then sends the caller back to parsing.
/// </summary>
internal sealed class JsonTapeRecorder : IDisposable
{
    /// <summary>Deeper than any body the normalizer's tokenizer accepts, plus the two levels a fold can add.</summary>
    private const int NormalizedMaxDepth = RequestNormalizer.MaxDepth + 8;

    private readonly int _maxDepth;

    private JsonTape.Entry[] _entries;
    private int[] _open;
    private int _count;
    private int _depth;
    private int _deepest;
    private TapeSplice[]? _splices;
    private int _spliceCount;

    public JsonTapeRecorder(int expectedBytes, int maxDepth = NormalizedMaxDepth)
    {
        _maxDepth = maxDepth;
        _entries = JsonTape.RentEntries(expectedBytes);
        _open = ArrayPool<int>.Shared.Rent(maxDepth + 1);
    }

    /// <summary>False once something was written that the recording could not follow.</summary>
    public bool IsValid { get; private set; } = true;

    internal int Count => _count;

    internal ReadOnlySpan<JsonTape.Entry> Entries => _entries.AsSpan(0, _count);

    public void Reset()
    {
        _spliceCount = 0;
        _count = 0;
        _depth = 0;
        _deepest = 0;
        IsValid = true;
    }

    public void Invalidate() => IsValid = false;

    public void StartContainer(JsonTokenType type, long position)
    {
        if (!IsValid)
        {
            return;
        }

        if (_depth >= _maxDepth)
        {
            IsValid = false;
            return;
        }

        _open[_depth] = _count;
        Add(new JsonTape.Entry { Type = type, Start = (int)position, Depth = (ushort)_depth });
        _depth++;
        _deepest = Math.Max(_deepest, _depth);
    }

    public void EndContainer(JsonTokenType type, long position)
    {
        if (!IsValid)
        {
            return;
        }

        if (_depth == 0)
        {
            IsValid = false;
            return;
        }

        _depth--;
        var opened = _open[_depth];
        Add(new JsonTape.Entry { Type = type, Start = (int)position, Length = 1, Depth = (ushort)_depth });
        ref var start = ref _entries[opened];
        start.Length = (int)position + 1 - start.Start;
        start.Aux = _count;
    }

    /// <summary>A string or property name whose content (between the quotes) starts at <paramref name="contentStart"/>.</summary>
    public void Text(JsonTokenType type, long contentStart, int length, bool escaped, int utf16Length)
    {
        if (IsValid)
        {
            Add(new JsonTape.Entry { Type = type, Start = (int)contentStart, Length = length, Escaped = escaped, Depth = (ushort)_depth, Aux = utf16Length });
        }
    }

    /// <summary>A number or literal, from its raw text.</summary>
    public void Scalar(long start, ReadOnlySpan<byte> raw)
    {
        if (!IsValid)
        {
            return;
        }

        var type = raw.IsEmpty ? JsonTokenType.None : raw[0] switch
        {
            (byte)'t' => JsonTokenType.True,
            (byte)'f' => JsonTokenType.False,
            (byte)'n' => JsonTokenType.Null,
            _ => JsonTokenType.Number,
        };
        Add(new JsonTape.Entry { Type = type, Start = (int)start, Length = raw.Length, Depth = (ushort)_depth });
    }

    /// <summary>
    /// What <paramref name="other"/> recorded of a whole value written elsewhere and now copied here at
    /// <paramref name="position"/>: its entries, moved to this position, depth and index.
    /// </summary>
    public void Append(JsonTapeRecorder other, long position)
    {
        if (!IsValid)
        {
            return;
        }

        if (!other.IsValid || other._depth != 0 || _depth + other._deepest >= _maxDepth)
        {
            IsValid = false;
            return;
        }

        _deepest = Math.Max(_deepest, _depth + other._deepest);
        EnsureRoom(other._count);

        for (var i = 0; i < other._spliceCount; i++)
        {
            var splice = other._splices![i];
            AddSplice(splice with { Index = splice.Index + _count });
        }

        Relocate(other.Entries, _entries.AsSpan(_count, other._count), (int)position, _depth, _count);
        _count += other._count;
    }

    /// <summary>
    /// Forgets the entries from <paramref name="count"/> on (a value taken back out of the output, see
    /// <see cref="JsonEmitter.MoveTail"/>), and the splices among them. Depths are untouched: the value was whole.
    /// </summary>
    public void TakeBack(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _count);
        while (_spliceCount > 0 && _splices![_spliceCount - 1].Index >= count)
        {
            // Splices are in index order.
            _splices[--_spliceCount] = default;
        }

        _count = count;
    }

    /// <summary>
    /// A cached container (<see cref="UnchangedValueCache"/>) written at <paramref name="position"/>: its entries,
    /// moved to this position, depth and index.
    /// </summary>
    public void AppendCached(CachedValue value, long position)
    {
        if (!IsValid)
        {
            return;
        }

        // The value's innermost container opens at _depth + Deepest - 1, which StartContainer would allow below _maxDepth.
        if (_depth + value.Deepest > _maxDepth)
        {
            IsValid = false;
            return;
        }

        var cached = value.Entries;
        EnsureRoom(cached.Length);

        AddSplice(new TapeSplice(_count, value));
        Relocate(cached, _entries.AsSpan(_count, cached.Length), (int)position, _depth, _count);
        _count += cached.Length;
        _deepest = Math.Max(_deepest, _depth + value.Deepest);
    }

    /// <summary>
    /// Copies entries recorded relative to a value's start into place: positions, depths and (for container starts)
    /// subtree-end indices moved. An entry is 16 bytes, so each moves with one vector add; a cached tools array or
    /// message has thousands of them and this runs for every request.
    /// </summary>
    internal static void Relocate(ReadOnlySpan<JsonTape.Entry> source, Span<JsonTape.Entry> target, int position, int depthShift, int indexShift)
    {
        if (Unsafe.SizeOf<JsonTape.Entry>() == Vector128<int>.Count * sizeof(int) && Vector128.IsHardwareAccelerated)
        {
            // Entry layout: Type (byte 0), Escaped (1), Depth (2-3), Start, Length, Aux; depth rides in the high half of lane 0.
            var plain = Vector128.Create(depthShift << 16, position, 0, 0);
            var container = Vector128.Create(depthShift << 16, position, 0, indexShift);
            var from = MemoryMarshal.Cast<JsonTape.Entry, Vector128<int>>(source);
            var to = MemoryMarshal.Cast<JsonTape.Entry, Vector128<int>>(target);
            for (var i = 0; i < from.Length; i++)
            {
                var entry = from[i];

                // StartObject (1) and StartArray (3) are the only types whose low byte, bit 1 cleared, is 1.
                to[i] = entry + ((entry.GetElement(0) & 0xFD) == (int)JsonTokenType.StartObject ? container : plain);
            }

            return;
        }

        for (var i = 0; i < source.Length; i++)
        {
            ref var moved = ref target[i];
            moved = source[i];
            moved.Start += position;
            moved.Depth += (ushort)depthShift;
            if (moved.Type is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                moved.Aux += indexShift;
            }
        }
    }

    /// <summary>
    /// A whole value written as raw pieces, now complete in <paramref name="value"/>, which starts at
    /// <paramref name="position"/> of the output: tokenized here, only it, instead of the whole body later.
    /// </summary>
    public void AppendParsed(ReadOnlySpan<byte> value, long position)
    {
        if (!IsValid)
        {
            return;
        }

        try
        {
            var reader = new JsonTokenizer(value, _maxDepth - _depth);
            Record(ref reader, position);
        }
        catch (JsonException)
        {
            // Not expected (the pieces came from validated input); the caller parses the whole body instead.
            IsValid = false;
        }
    }

    /// <summary>
    /// Records every token <paramref name="reader"/> reads, its positions moved by <paramref name="position"/>:
    /// how a tape is parsed from bytes (<see cref="JsonTape.Parse"/>). Throws <see cref="JsonException"/> as the
    /// tokenizer does.
    /// </summary>
    internal void Record(ref JsonTokenizer reader, long position)
    {
        while (reader.Read())
        {
            var at = position + reader.TokenStartIndex;
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    StartContainer(reader.TokenType, at);
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    EndContainer(reader.TokenType, at);
                    break;
                case JsonTokenType.String or JsonTokenType.PropertyName:
                    Text(reader.TokenType, at + 1, reader.ValueSpan.Length, reader.ValueIsEscaped, reader.ValueUtf16Length);
                    break;
                default:
                    Scalar(at, reader.ValueSpan);
                    break;
            }
        }
    }

    /// <summary>Hands the entries to a tape over <paramref name="json"/> (the bytes recorded); the recorder is spent.</summary>
    public JsonTape ToTape(ReadOnlyMemory<byte> json)
    {
        var tape = JsonTape.FromRecording(json, _entries, _count, _splices, _spliceCount);
        _splices = null;
        _spliceCount = 0;
        _entries = [];
        _count = 0;
        IsValid = false;
        return tape;
    }

    public void Dispose()
    {
        if (_splices is not null)
        {
            ArrayPool<TapeSplice>.Shared.Return(_splices, clearArray: true);
            _splices = null;
        }

        if (_entries.Length > 0)
        {
            JsonTape.ReturnEntries(_entries);
        }

        _entries = [];
        ArrayPool<int>.Shared.Return(_open);
        _open = [];
    }

    private void EnsureRoom(int entries)
    {
        while (_entries.Length - _count < entries)
        {
            _entries = JsonTape.GrowEntries(_entries, _count);
        }
    }

    private void AddSplice(TapeSplice splice)
    {
        if (_splices is null || _spliceCount == _splices.Length)
        {
            var bigger = ArrayPool<TapeSplice>.Shared.Rent(Math.Max(16, _spliceCount * 2));
            if (_splices is not null)
            {
                _splices.AsSpan(0, _spliceCount).CopyTo(bigger);
                ArrayPool<TapeSplice>.Shared.Return(_splices, clearArray: true);
            }

            _splices = bigger;
        }

        _splices[_spliceCount++] = splice;
    }

    private void Add(in JsonTape.Entry entry)
    {
        if (_count == _entries.Length)
        {
            _entries = JsonTape.GrowEntries(_entries, _count);
        }


        _entries[_count++] = entry;
    }
}
