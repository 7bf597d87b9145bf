using System.Buffers;

namespace LlamaGateway.Normalization;

/// <summary>
/// Writes compact JSON straight into an <see cref="IBufferWriter{T}"/>, adding separators itself. Strings and names
/// read from the request are copied as their raw (already valid, already escaped) bytes, so pass-through content is
/// byte-identical; text the normalizer creates is escaped minimally, like JavaScriptEncoder.UnsafeRelaxedJsonEscaping
/// for what matters: quote, backslash and control characters only, never non-ASCII or HTML characters.
/// Call <see cref="Flush"/> at the end. With a <see cref="JsonTapeRecorder"/> it also records the tape of what it
/// writes (positions count from the emitter's first byte, so its output must start empty for the tape to be right).
/// </summary>
internal ref struct JsonEmitter
{
    private const int ChunkSize = 16 * 1024;

    private readonly IBufferWriter<byte> _output;
    private JsonTapeRecorder? _tape;
    private JsonTapeRecorder? _rawTape;
    private int _rawStart;
    private long _rawAdvanced;
    private Span<byte> _buffer;
    private int _used;
    private long _advanced;
    private bool _needsComma;

    public JsonEmitter(IBufferWriter<byte> output, JsonTapeRecorder? tape = null)
    {
        _output = output;
        _tape = tape;
    }

    /// <summary>Bytes written so far, including those not yet handed to the buffer writer.</summary>
    public readonly long Position => _advanced + _used;

    public void StartObject() => Open((byte)'{', System.Text.Json.JsonTokenType.StartObject);

    public void StartArray() => Open((byte)'[', System.Text.Json.JsonTokenType.StartArray);

    public void EndObject() => Close((byte)'}', System.Text.Json.JsonTokenType.EndObject);

    public void EndArray() => Close((byte)']', System.Text.Json.JsonTokenType.EndArray);

    /// <summary>A property name in plain ASCII that needs no escaping, like "content"u8.</summary>
    public void PropertyNameRaw(scoped ReadOnlySpan<byte> ascii) => PropertyNameRaw(ascii, escaped: false, ascii.Length);

    /// <summary>A property name given as raw JSON string content, escaped as read (the tokenizer says whether, and its decoded length).</summary>
    public void PropertyNameRaw(scoped ReadOnlySpan<byte> raw, bool escaped, int utf16Length)
    {
        Ensure(raw.Length + 4);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
        }

        _buffer[_used++] = (byte)'"';
        _tape?.Text(System.Text.Json.JsonTokenType.PropertyName, Position, raw.Length, escaped, utf16Length);
        raw.CopyTo(_buffer[_used..]);
        _used += raw.Length;
        _buffer[_used++] = (byte)'"';
        _buffer[_used++] = (byte)':';
        _needsComma = false;
    }

    /// <summary>A string value in plain ASCII that needs no escaping, like "text"u8.</summary>
    public void StringRaw(scoped ReadOnlySpan<byte> ascii) => StringRaw(ascii, escaped: false, ascii.Length);

    /// <summary>A string value given as raw JSON string content, copied as is (escaped or not, and its decoded length, as read).</summary>
    public void StringRaw(scoped ReadOnlySpan<byte> raw, bool escaped, int utf16Length)
    {
        Ensure(raw.Length + 3);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
        }

        _buffer[_used++] = (byte)'"';
        _tape?.Text(System.Text.Json.JsonTokenType.String, Position, raw.Length, escaped, utf16Length);
        raw.CopyTo(_buffer[_used..]);
        _used += raw.Length;
        _buffer[_used++] = (byte)'"';
        _needsComma = true;
    }

    /// <summary>A string value from unescaped UTF-8 text.</summary>
    public void String(scoped ReadOnlySpan<byte> text)
    {
        Ensure(2);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
        }

        _buffer[_used++] = (byte)'"';
        var contentStart = Position;
        var utf16Length = _tape is null ? 0 : TextLength.Utf16(text);
        var escaped = false;
        while (true)
        {
            var stop = text.IndexOfAny(JsonStringEscape.NeedsEscaping);
            var plain = stop < 0 ? text : text[..stop];
            Ensure(plain.Length + 7);
            plain.CopyTo(_buffer[_used..]);
            _used += plain.Length;
            if (stop < 0)
            {
                break;
            }

            _used += JsonStringEscape.Write(text[stop], _buffer[_used..]);
            escaped = true;
            text = text[(stop + 1)..];
        }

        _tape?.Text(System.Text.Json.JsonTokenType.String, contentStart, (int)(Position - contentStart), escaped, utf16Length);
        _buffer[_used++] = (byte)'"';
        _needsComma = true;
    }

    /// <summary>A number or true/false/null, as its raw text.</summary>
    public void Literal(scoped ReadOnlySpan<byte> raw)
    {
        Ensure(raw.Length + 1);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
        }

        _tape?.Scalar(Position, raw);
        raw.CopyTo(_buffer[_used..]);
        _used += raw.Length;
        _needsComma = true;
    }

    /// <summary>
    /// Starts a value written with <see cref="Raw"/> (and any other calls) up to <see cref="EndRawValue"/>: only the
    /// separator before it. A recording cannot follow raw pieces, so the value is tokenized once it is complete, which
    /// needs it in one piece of the buffer: <paramref name="maxBytes"/> (an upper bound of its size) is reserved. If
    /// the value outgrows it the recording is given up.
    /// </summary>
    public void BeginRawValue(int maxBytes)
    {
        Ensure(maxBytes + 1);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
        }

        if (_tape is not null)
        {
            _rawTape = _tape;
            _tape = null;
            _rawStart = _used;
            _rawAdvanced = _advanced;
        }
    }

    /// <summary>Copies bytes as they are: the caller keeps the JSON valid.</summary>
    public void Raw(scoped ReadOnlySpan<byte> raw)
    {
        Ensure(raw.Length);
        raw.CopyTo(_buffer[_used..]);
        _used += raw.Length;
    }

    /// <summary>After raw bytes that left a list open: whether the next value needs a comma.</summary>
    public void ContinueList(bool hasItems) => _needsComma = hasItems;

    /// <summary>Ends a value begun with <see cref="BeginRawValue"/> (or written by <see cref="RawValue"/>).</summary>
    public void EndRawValue()
    {
        _needsComma = true;
        if (_rawTape is null)
        {
            return;
        }

        if (_advanced == _rawAdvanced)
        {
            _rawTape.AppendParsed(_buffer[_rawStart.._used], _advanced + _rawStart);
        }
        else
        {
            _rawTape.Invalidate();
        }

        _tape = _rawTape;
        _rawTape = null;
    }

    /// <summary>
    /// A whole value from raw, valid JSON bytes that another emitter wrote (with <paramref name="recorded"/> its
    /// recording, if it had one): the tape takes that emitter's entries.
    /// </summary>
    public void RawValue(scoped ReadOnlySpan<byte> raw, JsonTapeRecorder? recorded)
    {
        Ensure(1);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
        }

        if (_tape is not null)
        {
            if (recorded is null)
            {
                _tape.Invalidate();
            }
            else
            {
                _tape.Append(recorded, Position);
            }
        }

        Raw(raw);
        EndRawValue();
    }

    /// <summary>Whether the next value is written after a comma.</summary>
    public readonly bool NeedsComma => _needsComma;

    /// <summary>
    /// Moves what was written from <paramref name="from"/> on to <paramref name="target"/> and takes back everything
    /// from <paramref name="cut"/> (at or before it) on, as if it had not been written; the next value is then
    /// written with a comma before it if <paramref name="needsComma"/>. Only over a <see cref="Pipeline.PooledBuffer"/>,
    /// the one writer that can give bytes back, and not within a raw value. The tape is the caller's to take back.
    /// </summary>
    public void MoveTail(long cut, long from, bool needsComma, Pipeline.PooledBuffer target)
    {
        if (_output is not Pipeline.PooledBuffer output || _rawTape is not null || cut > from || from > Position)
        {
            throw new InvalidOperationException("Only bytes already written to a PooledBuffer, outside a raw value, can be moved.");
        }

        Flush();

        // The emitter's first byte is where the output stood when it began.
        var first = output.WrittenCount - (int)_advanced;
        var tail = output.WrittenSpan[(first + (int)from)..];
        target.Write(tail);
        output.Truncate(first + (int)cut);
        _advanced = cut;
        _needsComma = needsComma;
    }

    /// <summary>The recorder following what is written now (null when none, or while a raw value is being written).</summary>
    public readonly JsonTapeRecorder? Tape => _tape;

    /// <summary>A container found in <see cref="UnchangedValueCache"/>: its bytes, and its entries for the tape.</summary>
    public void WriteCached(CachedValue value)
    {
        Ensure(1);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
        }

        _tape?.AppendCached(value, Position);
        Raw(value.Bytes);
        _needsComma = true;
    }

    public void Flush()
    {
        if (_used > 0)
        {
            _output.Advance(_used);
            _advanced += _used;
        }

        _buffer = default;
        _used = 0;
    }

    private void Open(byte bracket, System.Text.Json.JsonTokenType type)
    {
        Ensure(2);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
        }

        _tape?.StartContainer(type, Position);
        _buffer[_used++] = bracket;
        _needsComma = false;
    }

    private void Close(byte bracket, System.Text.Json.JsonTokenType type)
    {
        Ensure(1);
        _tape?.EndContainer(type, Position);
        _buffer[_used++] = bracket;
        _needsComma = true;
    }

    private void Ensure(int bytes)
    {
        if (_buffer.Length - _used >= bytes)
        {
            return;
        }

        if (_used > 0)
        {
            _output.Advance(_used);
            _advanced += _used;
        }

        _buffer = _output.GetSpan(Math.Max(bytes, ChunkSize));
        _used = 0;
    }
}
