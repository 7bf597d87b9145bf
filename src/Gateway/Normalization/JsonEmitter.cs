using System.Buffers;

namespace LlamaGateway.Normalization;

/// <summary>
/// Writes compact JSON straight into an <see cref="IBufferWriter{T}"/>, adding separators itself. Strings and names
/// read from the request are copied as their raw (already valid, already escaped) bytes, so pass-through content is
/// byte-identical; text the normalizer creates is escaped minimally, like JavaScriptEncoder.UnsafeRelaxedJsonEscaping
/// for what matters: quote, backslash and control characters only, never non-ASCII or HTML characters.
/// Call <see cref="Flush"/> at the end.
/// </summary>
internal ref struct JsonEmitter
{
    private const int ChunkSize = 16 * 1024;

    private readonly IBufferWriter<byte> _output;
    private Span<byte> _buffer;
    private int _used;
    private long _advanced;
    private bool _needsComma;

    public JsonEmitter(IBufferWriter<byte> output)
    {
        _output = output;
    }

    /// <summary>Bytes written so far, including those not yet handed to the buffer writer.</summary>
    public readonly long Position => _advanced + _used;

    public void StartObject() => Open((byte)'{');

    public void StartArray() => Open((byte)'[');

    public void EndObject() => Close((byte)'}');

    public void EndArray() => Close((byte)']');

    /// <summary>A property name given as raw JSON string content (escaped as read, or plain ASCII like "content"u8).</summary>
    public void PropertyNameRaw(scoped ReadOnlySpan<byte> raw)
    {
        Ensure(raw.Length + 4);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
        }

        _buffer[_used++] = (byte)'"';
        raw.CopyTo(_buffer[_used..]);
        _used += raw.Length;
        _buffer[_used++] = (byte)'"';
        _buffer[_used++] = (byte)':';
        _needsComma = false;
    }

    /// <summary>A string value given as raw JSON string content, copied as is.</summary>
    public void StringRaw(scoped ReadOnlySpan<byte> raw)
    {
        Ensure(raw.Length + 3);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
        }

        _buffer[_used++] = (byte)'"';
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
            text = text[(stop + 1)..];
        }

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

        raw.CopyTo(_buffer[_used..]);
        _used += raw.Length;
        _needsComma = true;
    }

    /// <summary>Starts a value written with <see cref="Raw"/>: only the separator before it.</summary>
    public void BeginRawValue()
    {
        Ensure(1);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
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

    /// <summary>Ends a value written with <see cref="Raw"/>.</summary>
    public void EndRawValue() => _needsComma = true;

    /// <summary>A whole value from raw, valid JSON bytes.</summary>
    public void RawValue(scoped ReadOnlySpan<byte> raw)
    {
        BeginRawValue();
        Raw(raw);
        EndRawValue();
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

    private void Open(byte bracket)
    {
        Ensure(2);
        if (_needsComma)
        {
            _buffer[_used++] = (byte)',';
        }

        _buffer[_used++] = bracket;
        _needsComma = false;
    }

    private void Close(byte bracket)
    {
        Ensure(1);
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
