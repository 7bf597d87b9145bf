using System.Buffers;
using System.Buffers.Text;
using LlamaGateway.Normalization;

namespace LlamaGateway.Translation;

/// <summary>
/// Writes compact JSON into an <see cref="IBufferWriter{T}"/>, with <see cref="System.Text.Json.Utf8JsonWriter"/>'s
/// method names for what the translator needs, plus raw copies of values read from a <see cref="JsonTape"/>: strings
/// keep the escapes the client wrote, so no text is decoded and re-encoded. Text the translator creates is escaped
/// minimally (quote, backslash, control characters). Property names must be plain ASCII literals.
/// </summary>
internal sealed class RawJsonWriter(IBufferWriter<byte> output, bool sourceIsCompact)
{
    private static readonly SearchValues<byte> WhitespaceOrQuote = SearchValues.Create(" \t\r\n\""u8);

    private static readonly SearchValues<byte> QuoteOrBackslash = SearchValues.Create("\"\\"u8);

    private IBufferWriter<byte> _output = output;
    private bool _needsComma;
    private bool _inString;
    private ArrayBufferWriter<byte>? _capture;
    private IBufferWriter<byte>? _outsideCapture;
    private bool _commaBeforeCapture;

    /// <summary>Whether containers are copied as written (the source has no whitespace between tokens).</summary>
    public bool SourceIsCompact => sourceIsCompact;

    /// <summary>Whether <see cref="BeginCapture"/> is in effect (captures do not nest).</summary>
    public bool Capturing => _outsideCapture is not null;

    /// <summary>
    /// From here to <see cref="EndCapture"/>, what is written is also kept, as if written at the start of a list: so
    /// that <see cref="WriteCaptured"/> can write the same run of values elsewhere, with a comma before it if needed there.
    /// </summary>
    public void BeginCapture()
    {
        if (_inString || Capturing)
        {
            throw new InvalidOperationException("A capture starts between values, and captures do not nest.");
        }

        _capture ??= new ArrayBufferWriter<byte>();
        _capture.Clear();
        _outsideCapture = _output;
        _output = _capture;
        _commaBeforeCapture = _needsComma;
        _needsComma = false;
    }

    /// <summary>Ends the capture: writes what it kept to the real output and returns those bytes.</summary>
    public byte[] EndCapture()
    {
        if (_outsideCapture is null || _inString)
        {
            throw new InvalidOperationException("No capture to end, or a string is still open.");
        }

        var captured = _capture!.WrittenSpan.ToArray();
        _output = _outsideCapture;
        _outsideCapture = null;
        _needsComma = _commaBeforeCapture;
        WriteCaptured(captured);
        return captured;
    }

    /// <summary>A run of values an earlier capture kept, written where the writer is now.</summary>
    public void WriteCaptured(ReadOnlySpan<byte> captured)
    {
        if (captured.IsEmpty)
        {
            return;
        }

        Separator();
        Put(captured);
        _needsComma = true;
    }

    public void WriteStartObject() => Open((byte)'{');

    public void WriteStartArray() => Open((byte)'[');

    public void WriteEndObject() => Close((byte)'}');

    public void WriteEndArray() => Close((byte)']');

    public void WritePropertyName(ReadOnlySpan<byte> asciiName)
    {
        var span = _output.GetSpan(asciiName.Length + 4);
        var at = 0;
        if (_needsComma)
        {
            span[at++] = (byte)',';
        }

        span[at++] = (byte)'"';
        asciiName.CopyTo(span[at..]);
        at += asciiName.Length;
        span[at++] = (byte)'"';
        span[at++] = (byte)':';
        _output.Advance(at);
        _needsComma = false;
    }

    public void WriteString(ReadOnlySpan<byte> asciiName, ReadOnlySpan<byte> text)
    {
        WritePropertyName(asciiName);
        WriteStringValue(text);
    }

    public void WriteStringValue(ReadOnlySpan<byte> text)
    {
        WriteStringValueSegment(text, false);
        WriteStringValueSegment(ReadOnlySpan<byte>.Empty, true);
    }

    /// <summary>Part of a string value: the first call opens it, <paramref name="isFinalSegment"/> closes it.</summary>
    public void WriteStringValueSegment(ReadOnlySpan<byte> text, bool isFinalSegment)
    {
        OpenString();
        WriteEscaped(text);
        CloseStringIf(isFinalSegment);
    }

    /// <summary>A string read from the request, as part of a string value (its escapes kept).</summary>
    public void WriteStringSegment(JsonTapeValue stringValue, bool isFinalSegment)
    {
        OpenString();
        Put(stringValue.RawString);
        CloseStringIf(isFinalSegment);
    }

    public void WriteBoolean(ReadOnlySpan<byte> asciiName, bool value)
    {
        WritePropertyName(asciiName);
        Value(value ? "true"u8 : "false"u8);
    }

    public void WriteNumber(ReadOnlySpan<byte> asciiName, long value)
    {
        WritePropertyName(asciiName);
        Separator();
        var span = _output.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out var written);
        _output.Advance(written);
        _needsComma = true;
    }

    /// <summary>A value read from the request, copied as written (containers compacted if the request was not).</summary>
    public void WriteValue(JsonTapeValue value)
    {
        var raw = value.Raw;
        if (sourceIsCompact || value.ValueKind is not (System.Text.Json.JsonValueKind.Object or System.Text.Json.JsonValueKind.Array))
        {
            Value(raw);
            return;
        }

        Separator();
        WriteCompact(raw, escapeForString: false);
        _needsComma = true;
    }

    /// <summary>A value read from the request as the text of a string (OpenAI's tool-call <c>arguments</c>), compacted.</summary>
    public void WriteValueAsString(JsonTapeValue value)
    {
        OpenString();
        if (sourceIsCompact)
        {
            WriteEscaped(value.Raw);
        }
        else
        {
            WriteCompact(value.Raw, escapeForString: true);
        }

        CloseStringIf(true);
    }

    private void Open(byte bracket)
    {
        Separator();
        _output.GetSpan(1)[0] = bracket;
        _output.Advance(1);
        _needsComma = false;
    }

    private void Close(byte bracket)
    {
        _output.GetSpan(1)[0] = bracket;
        _output.Advance(1);
        _needsComma = true;
    }

    private void Value(ReadOnlySpan<byte> raw)
    {
        Separator();
        Put(raw);
        _needsComma = true;
    }

    private void OpenString()
    {
        if (_inString)
        {
            return;
        }

        Separator();
        Put("\""u8);
        _inString = true;
    }

    private void CloseStringIf(bool isFinalSegment)
    {
        if (!isFinalSegment)
        {
            return;
        }

        Put("\""u8);
        _inString = false;
        _needsComma = true;
    }

    private void Separator()
    {
        if (_needsComma)
        {
            Put(","u8);
            _needsComma = false;
        }
    }

    private void Put(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return;
        }

        bytes.CopyTo(_output.GetSpan(bytes.Length));
        _output.Advance(bytes.Length);
    }

    private void WriteEscaped(ReadOnlySpan<byte> text)
    {
        while (!text.IsEmpty)
        {
            var at = text.IndexOfAny(JsonStringEscape.NeedsEscaping);
            if (at < 0)
            {
                Put(text);
                return;
            }

            Put(text[..at]);
            _output.Advance(JsonStringEscape.Write(text[at], _output.GetSpan(JsonStringEscape.MaxLength)));
            text = text[(at + 1)..];
        }
    }

    /// <summary>Copies valid JSON without the whitespace between tokens (optionally escaped to sit inside a string).</summary>
    private void WriteCompact(ReadOnlySpan<byte> json, bool escapeForString)
    {
        while (!json.IsEmpty)
        {
            var at = json.IndexOfAny(WhitespaceOrQuote);
            if (at < 0)
            {
                Emit(json, escapeForString);
                return;
            }

            if (json[at] != (byte)'"')
            {
                Emit(json[..at], escapeForString);
                json = json[(at + 1)..];
                continue;
            }

            var end = StringEnd(json, at + 1);
            Emit(json[..(end + 1)], escapeForString);
            json = json[(end + 1)..];
        }
    }

    private void Emit(ReadOnlySpan<byte> json, bool escapeForString)
    {
        if (escapeForString)
        {
            WriteEscaped(json);
        }
        else
        {
            Put(json);
        }
    }

    /// <summary>Index of the quote that closes the string whose content starts at <paramref name="from"/>.</summary>
    private static int StringEnd(ReadOnlySpan<byte> json, int from)
    {
        while (true)
        {
            var next = json[from..].IndexOfAny(QuoteOrBackslash);
            if (next < 0)
            {
                throw new System.Text.Json.JsonException("Unterminated string.");
            }

            var at = next + from;
            if (json[at] == (byte)'"')
            {
                return at;
            }

            from = at + 2;
        }
    }
}
