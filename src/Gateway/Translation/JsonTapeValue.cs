using System.Text;
using System.Text.Json;
using LlamaGateway.Normalization;

namespace LlamaGateway.Translation;

/// <summary>
/// One value of a <see cref="JsonTape"/>, with the part of <see cref="JsonElement"/>'s surface the translator uses.
/// Valid while its tape is.
/// </summary>
internal readonly struct JsonTapeValue
{
    private readonly JsonTape _tape;
    private readonly int _index;

    public JsonTapeValue(JsonTape tape, int index)
    {
        _tape = tape;
        _index = index;
    }

    public JsonValueKind ValueKind => _tape.TypeAt(_index) switch
    {
        JsonTokenType.StartObject => JsonValueKind.Object,
        JsonTokenType.StartArray => JsonValueKind.Array,
        JsonTokenType.String => JsonValueKind.String,
        JsonTokenType.Number => JsonValueKind.Number,
        JsonTokenType.True => JsonValueKind.True,
        JsonTokenType.False => JsonValueKind.False,
        JsonTokenType.Null => JsonValueKind.Null,
        _ => JsonValueKind.Undefined,
    };

    /// <summary>The reuse-cache value the normalizer copied here, if it did (see <see cref="JsonTape.SplicedAt"/>).</summary>
    public CachedValue? Spliced => _tape.SplicedAt(_index);

    /// <summary>The value as written (strings with quotes, containers whole).</summary>
    public ReadOnlySpan<byte> Raw => _tape.RawAt(_index);

    /// <summary>Where <see cref="Raw"/> starts in the tape's document.</summary>
    public int RawStart => _tape.EntryAt(_index).Start - (_tape.TypeAt(_index) == JsonTokenType.String ? 1 : 0);

    /// <summary>A string's content between its quotes, escaped as written.</summary>
    public ReadOnlySpan<byte> RawString => _tape.ValueAt(_index);

    public bool IsEmptyString => _tape.ValueAt(_index).IsEmpty;

    /// <summary>The last member named <paramref name="utf8Name"/> (as JsonElement does for duplicates).</summary>
    public bool TryGetProperty(ReadOnlySpan<byte> utf8Name, out JsonTapeValue value)
    {
        value = default;
        if (_tape.TypeAt(_index) != JsonTokenType.StartObject)
        {
            throw new InvalidOperationException("The value is not an object.");
        }

        var found = false;
        var end = _tape.EndAt(_index) - 1; // the object's end token
        for (var i = _index + 1; i < end; i = _tape.EndAt(i + 1))
        {
            if (TextEquals(i, utf8Name))
            {
                value = new JsonTapeValue(_tape, i + 1);
                found = true;
            }
        }

        return found;
    }

    public JsonTapeValue GetProperty(ReadOnlySpan<byte> utf8Name) =>
        TryGetProperty(utf8Name, out var value) ? value : throw new KeyNotFoundException("The property is missing.");

    public ArrayEnumerator EnumerateArray() =>
        _tape.TypeAt(_index) == JsonTokenType.StartArray ? new ArrayEnumerator(_tape, _index) : throw new InvalidOperationException("The value is not an array.");

    public int GetArrayLength()
    {
        var count = 0;
        foreach (var _ in EnumerateArray())
        {
            count++;
        }

        return count;
    }

    /// <summary>Whether this string, decoded, equals <paramref name="text"/>.</summary>
    public bool ValueEquals(ReadOnlySpan<byte> text) => _tape.TypeAt(_index) == JsonTokenType.String && TextEquals(_index, text);

    public string GetString()
    {
        if (_tape.TypeAt(_index) != JsonTokenType.String)
        {
            throw new InvalidOperationException("The value is not a string.");
        }

        if (!_tape.IsEscapedAt(_index))
        {
            return Encoding.UTF8.GetString(_tape.ValueAt(_index));
        }

        var raw = _tape.RawAt(_index);
        var buffer = new byte[raw.Length];
        return Encoding.UTF8.GetString(buffer, 0, JsonText.Unescape(raw, buffer));
    }

    public bool TryGetInt64(out long value)
    {
        value = 0;
        return _tape.TypeAt(_index) == JsonTokenType.Number
            && System.Buffers.Text.Utf8Parser.TryParse(_tape.ValueAt(_index), out value, out var consumed)
            && consumed == _tape.ValueAt(_index).Length;
    }

    private bool TextEquals(int index, ReadOnlySpan<byte> text)
    {
        var raw = _tape.ValueAt(index);
        if (!_tape.IsEscapedAt(index))
        {
            return raw.SequenceEqual(text);
        }

        if (raw.Length < text.Length || raw.Length > text.Length * 12)
        {
            return false;
        }

        Span<byte> buffer = stackalloc byte[256];
        var decoded = raw.Length + 2 <= buffer.Length ? buffer : new byte[raw.Length + 2];
        return decoded[..JsonText.Unescape(_tape.RawAt(index), decoded)].SequenceEqual(text);
    }

    /// <summary>Walks an array's elements by skipping each one's subtree.</summary>
    public struct ArrayEnumerator
    {
        private readonly JsonTape _tape;
        private readonly int _end;
        private int _next;
        private int _current;

        internal ArrayEnumerator(JsonTape tape, int array)
        {
            _tape = tape;
            _end = tape.EndAt(array) - 1; // the array's end token
            _next = array + 1;
            _current = -1;
        }

        public readonly JsonTapeValue Current => new(_tape, _current);

        public readonly ArrayEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_next >= _end)
            {
                return false;
            }

            _current = _next;
            _next = _tape.EndAt(_current);
            return true;
        }
    }
}
