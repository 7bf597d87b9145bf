using System.Buffers.Text;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using System.Text.Json;

namespace LlamaGateway.Normalization;

/// <summary>
/// A strict, forward-only JSON tokenizer over one UTF-8 buffer, with the subset of <see cref="Utf8JsonReader"/>'s
/// surface the normalizer and fingerprinter use (same token types and depth numbering).
/// Why not Utf8JsonReader: once a string holds an escape, it validates the rest of that string one byte at a time.
/// Claude Code strings are long and full of "\n", so reading a 100 KB body took ~130 µs, more than the whole budget
/// for normalizing and fingerprinting it. Here strings are scanned with SIMD for the next quote, backslash or control
/// character, and escapes are validated where they occur.
/// It validates everything RFC 8259 requires (structure, literals, number grammar, escapes, no control characters in
/// strings, nothing after the root value) and also rejects escaped lone surrogates, which would decode to invalid
/// text. It does not check UTF-8: callers validate the whole buffer once up front. Errors throw
/// <see cref="JsonException"/> whose <c>BytePositionInLine</c> is the absolute offset (line 0).
/// </summary>
internal ref struct JsonTokenizer
{
    /// <summary>Extra room <see cref="CopyString"/> wants past the raw length to unescape with whole-block copies.</summary>
    public const int UnescapeSlack = 32;

    private const int MaxSupportedDepth = 512;

    private readonly ReadOnlySpan<byte> _json;
    private readonly JsonTape? _tape;
    private int _next;
    private readonly int _maxDepth;
    private int _position;
    private int _depth;
    private Expect _expect;
    private bool _rootDone;
    private ContainerStack _containers;
    private JsonTokenType _tokenType;
    private int _tokenStart;
    private int _tokenDepth;
    private int _valueStart;
    private int _valueLength;
    private bool _valueIsEscaped;
    private int _valueUtf16Length;

    public JsonTokenizer(ReadOnlySpan<byte> json, int maxDepth)
    {
        _json = json;
        _maxDepth = Math.Min(maxDepth, MaxSupportedDepth);
        _expect = Expect.Value;
    }

    /// <summary>
    /// A tokenizer that replays the tokens of <paramref name="tape"/> instead of scanning: same surface and token
    /// stream as scanning the tape's document, but nothing is validated again (the tape's own pass did that), and
    /// <see cref="Skip"/> jumps over a subtree in one step.
    /// </summary>
    public JsonTokenizer(JsonTape tape)
    {
        _json = tape.Json;
        _tape = tape;
        _maxDepth = MaxSupportedDepth;
    }

    /// <summary>On a replay, the tape index of the current token.</summary>
    public readonly int TapeIndex => _next - 1;

    private enum Expect : byte
    {
        /// <summary>A value: at the root or after a property name's colon.</summary>
        Value,

        /// <summary>Just after '{' or '[': the first member/element, or the closing bracket.</summary>
        FirstOrEnd,

        /// <summary>After a value inside a container: ',' or the closing bracket.</summary>
        CommaOrEnd,
    }

    public readonly JsonTokenType TokenType => _tokenType;

    /// <summary>Raw bytes of the token: a string's or name's content between the quotes (still escaped), a number's text.</summary>
    public readonly ReadOnlySpan<byte> ValueSpan => _json.Slice(_valueStart, _valueLength);

    public readonly bool ValueIsEscaped => _valueIsEscaped;

    /// <summary>
    /// A string's or name's length once decoded, in UTF-16 code units (what <c>string.Length</c> would say), counted
    /// while scanning it: escapes by what they stand for, UTF-8 by its characters (4-byte ones are two units).
    /// The fingerprint prices prompts with it without decoding them.
    /// </summary>
    public readonly int ValueUtf16Length => _valueUtf16Length;

    public readonly long TokenStartIndex => _tokenStart;

    /// <summary>As <see cref="Utf8JsonReader.CurrentDepth"/>: a container's start and end tokens sit at the depth outside it.</summary>
    public readonly int CurrentDepth => _tokenDepth;

    public bool Read()
    {
        if (_tape is not null)
        {
            return ReplayRead();
        }

        SkipWhitespace();
        if (_position >= _json.Length)
        {
            if (_depth > 0 || !_rootDone)
            {
                throw Error("Unexpected end of data: the JSON is incomplete.");
            }

            return false;
        }

        if (_rootDone)
        {
            throw Error($"'{(char)_json[_position]}' is invalid after a single JSON value. Expected end of data.");
        }

        var next = _json[_position];
        switch (_expect)
        {
            case Expect.FirstOrEnd when next == ClosingByte():
            case Expect.CommaOrEnd when next == ClosingByte():
                ReadEnd();
                return true;
            case Expect.CommaOrEnd when next == (byte)',':
                _position++;
                SkipWhitespace();
                if (_position >= _json.Length)
                {
                    throw Error("Unexpected end of data after ','.");
                }

                break;
            case Expect.CommaOrEnd:
                throw Error($"'{(char)next}' is invalid after a value. Expected either ',', '}}', or ']'.");
        }

        if (_expect != Expect.Value && InObject())
        {
            ReadPropertyName();
        }
        else
        {
            ReadValue();
        }

        return true;
    }

    /// <summary>At a container start: whether a value opening <paramref name="levels"/> levels here (itself included) stays within the depth limit.</summary>
    public readonly bool FitsNesting(int levels) => _tokenDepth + levels <= _maxDepth;

    /// <summary>
    /// At a container start whose whole text, <paramref name="length"/> bytes from its first, is known to be valid
    /// (it equals a value validated before: <see cref="UnchangedValueCache"/>): moves to its end token without
    /// reading what is inside.
    /// </summary>
    public void SkipValidatedContainer(int length)
    {
        if (_tape is not null || _tokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray) || length < 2)
        {
            throw new InvalidOperationException("Only a scanned container start can be skipped as validated.");
        }

        _tokenType = _tokenType == JsonTokenType.StartObject ? JsonTokenType.EndObject : JsonTokenType.EndArray;
        _position = _tokenStart + length;
        _tokenStart = _position - 1;
        _valueStart = _tokenStart;
        _valueLength = 1;
        _valueIsEscaped = false;
        _depth--;
        _tokenDepth = _depth;
        EndValue();
    }

    /// <summary>As <see cref="Utf8JsonReader.Skip"/>: from a property name or a container start, to the end of that value.</summary>
    public void Skip()
    {
        if (_tape is not null)
        {
            ReplaySkip();
            return;
        }

        if (_tokenType == JsonTokenType.PropertyName)
        {
            Read();
        }

        if (_tokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            var depth = _tokenDepth;
            do
            {
                Read();
            }
            while (_depth > depth);
        }
    }

    /// <summary>
    /// Like <see cref="Skip"/> but without validating what it skips: a SIMD scan for quotes and brackets. For
    /// lookaheads over data that a validating pass reads again afterwards. Still never reads out of bounds: an
    /// unterminated value throws like a truncated body.
    /// </summary>
    public void SkipUnvalidated()
    {
        if (_tape is not null)
        {
            ReplaySkip();
            return;
        }

        if (_tokenType == JsonTokenType.PropertyName)
        {
            Read();
        }

        if (_tokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            return;
        }

        var isObject = _tokenType == JsonTokenType.StartObject;
        var nesting = 1;
        var at = _position;
        while (nesting > 0)
        {
            at = NextStructural(at);
            if (at < 0)
            {
                _position = _json.Length;
                throw Error("Unexpected end of data: the JSON is incomplete.");
            }

            var b = _json[at];
            if (b == (byte)'"')
            {
                at = SkipStringUnvalidated(at + 1);
            }
            else
            {
                nesting += (b | 0x20) == (byte)'{' ? 1 : -1;
                at++;
            }
        }

        _tokenStart = at - 1;
        _valueStart = at - 1;
        _valueLength = 1;
        _valueIsEscaped = false;
        _tokenType = isObject ? JsonTokenType.EndObject : JsonTokenType.EndArray;
        _position = at;
        _depth--;
        _tokenDepth = _depth;
        EndValue();
    }

    private bool ReplayRead()
    {
        if (_next >= _tape!.Count)
        {
            return false;
        }

        Load(_next++);
        return true;
    }

    /// <summary>Skip on a tape: a property name moves to its value, a container start to its end token.</summary>
    private void ReplaySkip()
    {
        if (_tokenType == JsonTokenType.PropertyName)
        {
            ReplayRead();
        }

        if (_tokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            var end = _tape!.EndAt(_next - 1) - 1;
            Load(end);
            _next = end + 1;
        }
    }

    private void Load(int index)
    {
        ref readonly var entry = ref _tape!.EntryAt(index);
        _tokenType = entry.Type;
        _tokenDepth = entry.Depth;
        _valueIsEscaped = entry.Escaped;
        switch (entry.Type)
        {
            case JsonTokenType.StartObject or JsonTokenType.StartArray:
                _tokenStart = entry.Start;
                _valueStart = entry.Start;
                _valueLength = 1;
                _depth = entry.Depth + 1;
                return;
            case JsonTokenType.String or JsonTokenType.PropertyName:
                _tokenStart = entry.Start - 1;
                _valueStart = entry.Start;
                _valueLength = entry.Length;
                _depth = entry.Depth;
                _valueUtf16Length = entry.Aux;
                return;
            default:
                _tokenStart = entry.Start;
                _valueStart = entry.Start;
                _valueLength = entry.Length;
                _depth = entry.Depth;
                return;
        }
    }

    /// <summary>Whether the current string or name, unescaped, equals <paramref name="text"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool ValueTextEquals(ReadOnlySpan<byte> text) =>
        !_valueIsEscaped ? _json.Slice(_valueStart, _valueLength).SequenceEqual(text) : EscapedValueTextEquals(text);

    private readonly bool EscapedValueTextEquals(ReadOnlySpan<byte> text)
    {
        if (_valueLength < text.Length || _valueLength > text.Length * 6)
        {
            return false;
        }

        Span<byte> buffer = stackalloc byte[256];
        var unescaped = _valueLength <= buffer.Length ? buffer : new byte[_valueLength];
        return unescaped[..CopyString(unescaped)].SequenceEqual(text);
    }

    /// <summary>
    /// Unescapes the current string or name into <paramref name="destination"/>, which needs
    /// <see cref="ValueSpan"/>'s length (unescaping never lengthens). With <see cref="UnescapeSlack"/> more bytes it
    /// copies 32 bytes at a time and steps over each escape found in the block, instead of one search per escape.
    /// </summary>
    public readonly int CopyString(Span<byte> destination)
    {
        var source = ValueSpan;
        if (!_valueIsEscaped)
        {
            source.CopyTo(destination);
            return source.Length;
        }

        var read = 0;
        var written = 0;
        if (Vector256.IsHardwareAccelerated && destination.Length >= source.Length + UnescapeSlack)
        {
            ref var from = ref MemoryMarshal.GetReference(source);
            ref var to = ref MemoryMarshal.GetReference(destination);
            var backslash = Vector256.Create((byte)'\\');
            while (read + Vector256<byte>.Count <= source.Length)
            {
                var chunk = Vector256.LoadUnsafe(ref from, (nuint)read);
                chunk.StoreUnsafe(ref to, (nuint)written);
                var mask = Vector256.Equals(chunk, backslash).ExtractMostSignificantBits();
                if (mask == 0)
                {
                    read += Vector256<byte>.Count;
                    written += Vector256<byte>.Count;
                    continue;
                }

                var plain = BitOperations.TrailingZeroCount(mask);
                read += plain;
                written += plain;
                Unescape(source, ref read, destination, ref written);
            }
        }

        while (read < source.Length)
        {
            if (source[read] == (byte)'\\')
            {
                Unescape(source, ref read, destination, ref written);
            }
            else
            {
                destination[written++] = source[read++];
            }
        }

        return written;
    }

    /// <summary>Decodes the escape at <paramref name="read"/> (validated when the string was read).</summary>
    private static void Unescape(ReadOnlySpan<byte> source, ref int read, Span<byte> destination, ref int written)
    {
        var escape = source[read + 1];
        if (escape != (byte)'u')
        {
            destination[written++] = escape switch
            {
                (byte)'n' => (byte)'\n',
                (byte)'t' => (byte)'\t',
                (byte)'r' => (byte)'\r',
                (byte)'b' => (byte)'\b',
                (byte)'f' => (byte)'\f',
                _ => escape, // '"', '\\', '/'.
            };
            read += 2;
            return;
        }

        var unit = Hex4(source.Slice(read + 2, 4));
        var scalar = (int)unit;
        read += 6;
        if (char.IsHighSurrogate((char)unit))
        {
            scalar = char.ConvertToUtf32((char)unit, (char)Hex4(source.Slice(read + 2, 4)));
            read += 6;
        }

        written += new Rune(scalar).EncodeToUtf8(destination[written..]);
    }

    public readonly string GetString()
    {
        if (!_valueIsEscaped)
        {
            return Encoding.UTF8.GetString(ValueSpan);
        }

        var buffer = new byte[_valueLength];
        return Encoding.UTF8.GetString(buffer, 0, CopyString(buffer));
    }

    public readonly bool TryGetInt64(out long value) =>
        Utf8Parser.TryParse(ValueSpan, out value, out var consumed) && consumed == _valueLength;

    private static uint Hex4(ReadOnlySpan<byte> digits)
    {
        uint value = 0;
        foreach (var digit in digits)
        {
            value = (value << 4) | (uint)HexValue(digit);
        }

        return value;
    }

    private static int HexValue(byte digit) => digit switch
    {
        >= (byte)'0' and <= (byte)'9' => digit - '0',
        >= (byte)'a' and <= (byte)'f' => digit - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => digit - 'A' + 10,
        _ => -1,
    };

    private static bool IsDelimiter(byte b) => b is (byte)',' or (byte)'}' or (byte)']' or (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t';

    private readonly bool InObject() => _containers.IsObject(_depth - 1);

    private readonly byte ClosingByte() => _depth == 0 ? (byte)0 : InObject() ? (byte)'}' : (byte)']';

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SkipWhitespace()
    {
        while (_position < _json.Length && _json[_position] <= (byte)' ')
        {
            var b = _json[_position];
            if (b is not ((byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t'))
            {
                return;
            }

            _position++;
        }
    }

    private void ReadEnd()
    {
        _tokenType = InObject() ? JsonTokenType.EndObject : JsonTokenType.EndArray;
        _tokenStart = _position;
        _valueStart = _position;
        _valueLength = 1;
        _valueIsEscaped = false;
        _position++;
        _depth--;
        _tokenDepth = _depth;
        EndValue();
    }

    private void EndValue()
    {
        _expect = Expect.CommaOrEnd;
        if (_depth == 0)
        {
            _rootDone = true;
        }
    }

    private void ReadPropertyName()
    {
        if (_json[_position] != (byte)'"')
        {
            throw Error($"'{(char)_json[_position]}' is invalid where a property name is expected.");
        }

        ReadString();
        _tokenType = JsonTokenType.PropertyName;
        _tokenDepth = _depth;
        SkipWhitespace();
        if (_position >= _json.Length || _json[_position] != (byte)':')
        {
            throw Error("Expected ':' after a property name.");
        }

        _position++;
        _expect = Expect.Value;
    }

    private void ReadValue()
    {
        _tokenStart = _position;
        _tokenDepth = _depth;
        _valueIsEscaped = false;
        var first = _json[_position];
        switch (first)
        {
            case (byte)'{':
            case (byte)'[':
                if (_depth >= _maxDepth)
                {
                    throw Error($"The maximum configured depth of {_maxDepth} has been exceeded.");
                }

                _containers.Set(_depth, first == (byte)'{');
                _depth++;
                _tokenType = first == (byte)'{' ? JsonTokenType.StartObject : JsonTokenType.StartArray;
                _valueStart = _position;
                _valueLength = 1;
                _position++;
                _expect = Expect.FirstOrEnd;
                return;
            case (byte)'"':
                ReadString();
                _tokenType = JsonTokenType.String;
                break;
            case (byte)'t':
                ReadLiteral("true"u8, JsonTokenType.True);
                break;
            case (byte)'f':
                ReadLiteral("false"u8, JsonTokenType.False);
                break;
            case (byte)'n':
                ReadLiteral("null"u8, JsonTokenType.Null);
                break;
            case (byte)'-' or (>= (byte)'0' and <= (byte)'9'):
                ReadNumber();
                break;
            default:
                throw Error($"'{(char)first}' is an invalid start of a value.");
        }

        EndValue();
    }

    private void ReadLiteral(ReadOnlySpan<byte> literal, JsonTokenType type)
    {
        if (!_json[_position..].StartsWith(literal))
        {
            throw Error($"Expected '{Encoding.ASCII.GetString(literal)}'.");
        }

        _tokenType = type;
        _valueStart = _position;
        _valueLength = literal.Length;
        _position += literal.Length;
        RequireDelimiter();
    }

    private void ReadNumber()
    {
        var start = _position;
        var at = _position;
        if (_json[at] == (byte)'-')
        {
            at++;
        }

        if (at < _json.Length && _json[at] == (byte)'0')
        {
            at++;
        }
        else
        {
            at = Digits(at, "a digit after '-'");
        }

        if (at < _json.Length && _json[at] == (byte)'.')
        {
            at = Digits(at + 1, "a digit after the decimal point");
        }

        if (at < _json.Length && (_json[at] | 0x20) == (byte)'e')
        {
            at++;
            if (at < _json.Length && _json[at] is (byte)'+' or (byte)'-')
            {
                at++;
            }

            at = Digits(at, "a digit in the exponent");
        }

        _tokenType = JsonTokenType.Number;
        _valueStart = start;
        _valueLength = at - start;
        _position = at;
        RequireDelimiter();
    }

    private int Digits(int at, string what)
    {
        var start = at;
        while (at < _json.Length && _json[at] - (uint)'0' <= 9)
        {
            at++;
        }

        if (at == start)
        {
            _position = at;
            throw Error($"Expected {what}.");
        }

        return at;
    }

    private void RequireDelimiter()
    {
        if (_position < _json.Length && !IsDelimiter(_json[_position]))
        {
            throw Error($"'{(char)_json[_position]}' is invalid after a value.");
        }
    }

    /// <summary>Reads a string from its opening quote; validates escapes and rejects raw control characters.</summary>
    private void ReadString()
    {
        _tokenStart = _position;
        var start = _position + 1;
        var escaped = false;
        var end = ScanString(start, ref escaped, out var utf16Adjust);
        if (end < 0)
        {
            _position = _json.Length;
            throw Error("Unterminated string.");
        }

        _valueStart = start;
        _valueLength = end - start;
        _valueIsEscaped = escaped;
        _valueUtf16Length = _valueLength + utf16Adjust;
        _position = end + 1;
    }

    /// <summary>
    /// Index of the closing quote of the string content starting at <paramref name="at"/>, or -1. SIMD: each 32-byte
    /// block yields a bit mask of quotes, backslashes and control characters, and every escape in the block is
    /// validated from that mask without rescanning. Claude Code text has an escape ("\n", "\t") every few dozen
    /// bytes, so per-escape cost matters as much as raw scan speed.
    /// </summary>
    private int ScanString(int at, ref bool escaped, out int utf16Adjust)
    {
        // A local, not the out parameter, so it stays in a register through the loops.
        var adjust = 0;
        var json = _json;
        var length = json.Length;
        ref var start = ref MemoryMarshal.GetReference(json);
        if (Vector256.IsHardwareAccelerated)
        {
            var quote = Vector256.Create((byte)'"');
            var backslash = Vector256.Create((byte)'\\');
            var space = Vector256.Create((byte)' ');
            while (at + Vector256<byte>.Count <= length)
            {
                var chunk = Vector256.LoadUnsafe(ref start, (nuint)at);
                var mask = (Vector256.Equals(chunk, quote) | Vector256.Equals(chunk, backslash) | Vector256.LessThan(chunk, space)).ExtractMostSignificantBits();

                // Non-ASCII blocks (rare in Claude Code text) also count their UTF-16 units: see ValueUtf16Length.
                var nonAscii = chunk.ExtractMostSignificantBits();
                uint continuations = 0, fourByteLeads = 0;
                if (nonAscii != 0)
                {
                    continuations = Vector256.Equals(chunk & Vector256.Create((byte)0xC0), Vector256.Create((byte)0x80)).ExtractMostSignificantBits();
                    fourByteLeads = Vector256.GreaterThan(chunk, Vector256.Create((byte)0xEF)).ExtractMostSignificantBits();
                }

                var next = at + Vector256<byte>.Count;
                while (mask != 0)
                {
                    var offset = BitOperations.TrailingZeroCount(mask);
                    var hit = at + offset;
                    if (json[hit] == (byte)'"')
                    {
                        if (nonAscii != 0)
                        {
                            var before = (1u << offset) - 1;
                            adjust += BitOperations.PopCount(fourByteLeads & before) - BitOperations.PopCount(continuations & before);
                        }

                        utf16Adjust = adjust;
                        return hit;
                    }

                    next = EscapeEnd(hit);
                    adjust += EscapeUtf16Adjust(next - hit);
                    escaped = true;
                    var consumed = next - at;
                    if (consumed >= Vector256<byte>.Count)
                    {
                        break;
                    }

                    mask &= ~0u << consumed;
                    next = at + Vector256<byte>.Count;
                }

                if (nonAscii != 0)
                {
                    adjust += BitOperations.PopCount(fourByteLeads) - BitOperations.PopCount(continuations);
                }

                at = next;
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            var quote = Vector128.Create((byte)'"');
            var backslash = Vector128.Create((byte)'\\');
            var space = Vector128.Create((byte)' ');
            while (at + Vector128<byte>.Count <= length)
            {
                var chunk = Vector128.LoadUnsafe(ref start, (nuint)at);
                var mask = (Vector128.Equals(chunk, quote) | Vector128.Equals(chunk, backslash) | Vector128.LessThan(chunk, space)).ExtractMostSignificantBits();
                var nonAscii = chunk.ExtractMostSignificantBits();
                uint continuations = 0, fourByteLeads = 0;
                if (nonAscii != 0)
                {
                    continuations = Vector128.Equals(chunk & Vector128.Create((byte)0xC0), Vector128.Create((byte)0x80)).ExtractMostSignificantBits();
                    fourByteLeads = Vector128.GreaterThan(chunk, Vector128.Create((byte)0xEF)).ExtractMostSignificantBits();
                }

                var next = at + Vector128<byte>.Count;
                while (mask != 0)
                {
                    var offset = BitOperations.TrailingZeroCount(mask);
                    var hit = at + offset;
                    if (json[hit] == (byte)'"')
                    {
                        if (nonAscii != 0)
                        {
                            var before = (1u << offset) - 1;
                            adjust += BitOperations.PopCount(fourByteLeads & before) - BitOperations.PopCount(continuations & before);
                        }

                        utf16Adjust = adjust;
                        return hit;
                    }

                    next = EscapeEnd(hit);
                    adjust += EscapeUtf16Adjust(next - hit);
                    escaped = true;
                    var consumed = next - at;
                    if (consumed >= Vector128<byte>.Count)
                    {
                        break;
                    }

                    mask &= ~0u << consumed;
                    next = at + Vector128<byte>.Count;
                }

                if (nonAscii != 0)
                {
                    adjust += BitOperations.PopCount(fourByteLeads) - BitOperations.PopCount(continuations);
                }

                at = next;
            }
        }

        while (at < length)
        {
            var b = json[at];
            if (b == (byte)'"')
            {
                utf16Adjust = adjust;
                return at;
            }

            if (b is (byte)'\\' or < (byte)' ')
            {
                var escapeEnd = EscapeEnd(at);
                adjust += EscapeUtf16Adjust(escapeEnd - at);
                at = escapeEnd;
                escaped = true;
            }
            else
            {
                if (b >= 0x80)
                {
                    adjust += (b & 0xC0) == 0x80 ? -1 : b >= 0xF0 ? 1 : 0;
                }

                at++;
            }
        }

        utf16Adjust = adjust;
        return -1;
    }

    /// <summary>
    /// UTF-16 units an escape of <paramref name="length"/> bytes stands for, minus those bytes: "\n" and "\u00e9" are
    /// one unit, a surrogate pair's 12 bytes are two.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int EscapeUtf16Adjust(int length) => (length == 12 ? 2 : 1) - length;

    /// <summary>At a stop that is not a quote: the index after the escape it starts; throws for a control character or a bad escape.</summary>
    private int EscapeEnd(int at)
    {
        if (_json[at] != (byte)'\\')
        {
            _position = at;
            throw Error("A control character must be escaped inside a string.");
        }

        if (at + 1 < _json.Length && _json[at + 1] is (byte)'n' or (byte)'"' or (byte)'\\' or (byte)'t' or (byte)'/' or (byte)'r')
        {
            return at + 2;
        }

        // \uXXXX outside the surrogate range (e.g. .NET's default \u003C), without the general path's checks.
        if (at + 5 < _json.Length && _json[at + 1] == (byte)'u')
        {
            var value = (HexValue(_json[at + 2]) << 12) | (HexValue(_json[at + 3]) << 8) | (HexValue(_json[at + 4]) << 4) | HexValue(_json[at + 5]);
            if (value >= 0 && (value < 0xD800 || value > 0xDFFF))
            {
                return at + 6;
            }
        }

        return ValidateEscape(at);
    }

    /// <summary>
    /// Index after the closing quote of a string whose content starts at <paramref name="at"/>. Looks only for quotes
    /// (most escapes are "\n" and never stop the search); a quote preceded by an odd run of backslashes is escaped.
    /// </summary>
    private int SkipStringUnvalidated(int at)
    {
        while (true)
        {
            var quote = _json[at..].IndexOf((byte)'"');
            if (quote < 0)
            {
                _position = _json.Length;
                throw Error("Unterminated string.");
            }

            at += quote;
            var backslashes = 0;
            while (_json[at - 1 - backslashes] == (byte)'\\')
            {
                backslashes++;
            }

            if ((backslashes & 1) == 0)
            {
                return at + 1;
            }

            at++;
        }
    }

    /// <summary>Index of the next quote or bracket at or after <paramref name="at"/>, or -1.</summary>
    private readonly int NextStructural(int at)
    {
        var length = _json.Length;
        ref var start = ref MemoryMarshal.GetReference(_json);
        if (Vector256.IsHardwareAccelerated)
        {
            // '[' | 0x20 == '{' and ']' | 0x20 == '}': one compare each for both bracket kinds.
            var quote = Vector256.Create((byte)'"');
            var open = Vector256.Create((byte)'{');
            var close = Vector256.Create((byte)'}');
            var lower = Vector256.Create((byte)0x20);
            while (at + Vector256<byte>.Count <= length)
            {
                var chunk = Vector256.LoadUnsafe(ref start, (nuint)at);
                var folded = chunk | lower;
                var hits = Vector256.Equals(chunk, quote) | Vector256.Equals(folded, open) | Vector256.Equals(folded, close);
                if (hits != Vector256<byte>.Zero)
                {
                    return at + BitOperations.TrailingZeroCount(hits.ExtractMostSignificantBits());
                }

                at += Vector256<byte>.Count;
            }
        }

        for (; at < length; at++)
        {
            var b = _json[at];
            if (b == (byte)'"' || (b | 0x20) is (byte)'{' or (byte)'}')
            {
                return at;
            }
        }

        return -1;
    }

    /// <summary>Validates the escape at <paramref name="at"/> (a backslash) and returns the index after it.</summary>
    private int ValidateEscape(int at)
    {
        if (at + 1 >= _json.Length)
        {
            _position = at;
            throw Error("Unterminated string.");
        }

        switch (_json[at + 1])
        {
            case (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t':
                return at + 2;
            case (byte)'u':
                var unit = UnicodeEscape(at);
                if (char.IsLowSurrogate((char)unit))
                {
                    _position = at;
                    throw Error("A low surrogate escape must follow a high surrogate escape.");
                }

                if (!char.IsHighSurrogate((char)unit))
                {
                    return at + 6;
                }

                if (at + 7 >= _json.Length || _json[at + 6] != (byte)'\\' || _json[at + 7] != (byte)'u'
                    || !char.IsLowSurrogate((char)UnicodeEscape(at + 6)))
                {
                    _position = at;
                    throw Error("A high surrogate escape must be followed by a low surrogate escape.");
                }

                return at + 12;
            default:
                _position = at;
                throw Error($"'{(char)_json[at + 1]}' is not a valid escape.");
        }
    }

    private int UnicodeEscape(int at)
    {
        if (at + 6 > _json.Length)
        {
            _position = at;
            throw Error("Unterminated string.");
        }

        var value = 0;
        for (var i = at + 2; i < at + 6; i++)
        {
            var digit = HexValue(_json[i]);
            if (digit < 0)
            {
                _position = at;
                throw Error("A \\u escape needs 4 hexadecimal digits.");
            }

            value = (value << 4) | digit;
        }

        return value;
    }

    private readonly JsonException Error(string message) =>
        new($"{message} LineNumber: 0 | BytePositionInLine: {_position}.", null, 0, _position);

    /// <summary>One bit per open container: object or array.</summary>
    [InlineArray(MaxSupportedDepth / 64)]
    private struct ContainerStack
    {
        private ulong _bits;

        public readonly bool IsObject(int level) => (this[level >> 6] & (1UL << (level & 63))) != 0;

        public void Set(int level, bool isObject)
        {
            if (isObject)
            {
                this[level >> 6] |= 1UL << (level & 63);
            }
            else
            {
                this[level >> 6] &= ~(1UL << (level & 63));
            }
        }
    }
}
