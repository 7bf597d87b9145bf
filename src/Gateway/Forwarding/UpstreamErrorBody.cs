using System.Text.Json;
using LlamaGateway.Errors;

namespace LlamaGateway.Forwarding;

/// <summary>The format an upstream's error body came in.</summary>
internal enum UpstreamErrorShape
{
    /// <summary>Empty, or too large to read.</summary>
    None,

    /// <summary>Not a JSON error object (an HTML page, plain text, other JSON).</summary>
    Text,

    /// <summary><c>{"error":{"message":..,"type":..,"code":..}}</c>, as llama-server writes every error (on /v1/messages too).</summary>
    OpenAi,

    /// <summary><c>{"type":"error","error":{"type":..,"message":..}}</c>.</summary>
    Anthropic,
}

/// <summary>
/// What an upstream's error answer says, read once and bounded: the message is at most
/// <see cref="BoundedText.MaxChars"/> characters however long the upstream made it (llama-server quotes the request
/// back in some errors, e.g. "Failed to parse tools: ...; tools = &lt;the whole tools array&gt;").
/// </summary>
internal readonly record struct UpstreamErrorBody(UpstreamErrorShape Shape, string? Type, string? Message, bool MessageTruncated, long? PromptTokens, long? ContextTokens)
{
    /// <summary>Escaped strings up to this many bytes are decoded whole (then truncated); longer ones only from their start.</summary>
    private const int DecodeWholeBytes = 64 * 1024;

    public static UpstreamErrorBody Empty { get; } = new(UpstreamErrorShape.None, null, null, false, null, null);

    /// <summary>Whether this is the wire format errors take in <paramref name="dialect"/>.</summary>
    public bool IsShapeOf(Pipeline.ApiDialect dialect) =>
        Shape == (dialect == Pipeline.ApiDialect.Anthropic ? UpstreamErrorShape.Anthropic : UpstreamErrorShape.OpenAi);

    /// <summary>Reads an error body; never throws.</summary>
    public static UpstreamErrorBody Parse(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
        {
            return Empty;
        }

        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 64 });
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                var parsed = ReadObject(ref reader);
                if (parsed is { } found)
                {
                    return found;
                }
            }
        }
        catch (JsonException)
        {
        }
        catch (InvalidOperationException)
        {
            // A string that cannot be decoded (a lone surrogate escape).
        }

        var text = BoundedText.FromUtf8(body);
        return new UpstreamErrorBody(UpstreamErrorShape.Text, null, text, body.Length > BoundedText.MaxChars, null, null);
    }

    private static UpstreamErrorBody? ReadObject(ref Utf8JsonReader reader)
    {
        // Top level: "error" (object or string), and for the Anthropic form "type":"error"; a bare
        // {"code","message","type"} (old llama-server builds in an SSE error field) is read like the inner object.
        Inner? inner = null;
        var bare = new Inner();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("error"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    var (text, truncated) = ReadString(ref reader);
                    inner = new Inner { Message = text, Truncated = truncated };
                }
                else if (reader.TokenType == JsonTokenType.StartObject)
                {
                    var found = new Inner();
                    ReadInner(ref reader, ref found);
                    inner = found;
                }
                else
                {
                    reader.Skip();
                }

                continue;
            }

            ReadField(ref reader, ref bare);
        }

        if (inner is { } error)
        {
            var shape = bare.Type == "error" ? UpstreamErrorShape.Anthropic : UpstreamErrorShape.OpenAi;
            return new UpstreamErrorBody(shape, error.Type, error.Message, error.Truncated, error.PromptTokens, error.ContextTokens);
        }

        if (bare.Message is not null)
        {
            return new UpstreamErrorBody(UpstreamErrorShape.OpenAi, bare.Type, bare.Message, bare.Truncated, bare.PromptTokens, bare.ContextTokens);
        }

        return null;
    }

    private static void ReadInner(ref Utf8JsonReader reader, ref Inner inner)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            ReadField(ref reader, ref inner);
        }
    }

    /// <summary>Reads one property's value (the reader is on its name) into <paramref name="inner"/>, skipping unknown ones.</summary>
    private static bool ReadField(ref Utf8JsonReader reader, ref Inner inner)
    {
        var field = reader.ValueTextEquals("message"u8) ? 1
            : reader.ValueTextEquals("type"u8) ? 2
            : reader.ValueTextEquals("n_prompt_tokens"u8) ? 3
            : reader.ValueTextEquals("n_ctx"u8) ? 4
            : 0;
        reader.Read();
        switch (field)
        {
            case 1 when reader.TokenType == JsonTokenType.String:
                (inner.Message, inner.Truncated) = ReadString(ref reader);
                return true;
            case 2 when reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length <= 128:
                inner.Type = reader.GetString();
                return true;
            case 3 when reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var prompt):
                inner.PromptTokens = prompt;
                return true;
            case 4 when reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var context):
                inner.ContextTokens = context;
                return true;
            default:
                reader.Skip();
                return false;
        }
    }

    /// <summary>The string the reader is on, at most <see cref="BoundedText.MaxChars"/> characters, decoding only its start when it is large.</summary>
    private static (string Text, bool Truncated) ReadString(ref Utf8JsonReader reader)
    {
        var raw = reader.ValueSpan;
        if (!reader.ValueIsEscaped)
        {
            return (BoundedText.FromUtf8(raw), raw.Length > BoundedText.MaxChars);
        }

        if (raw.Length <= DecodeWholeBytes)
        {
            var whole = reader.GetString()!;
            return (BoundedText.Truncate(whole), whole.Length > BoundedText.MaxChars);
        }

        // A large escaped string: decode a prefix cut between escapes (an escape is 2 bytes, or 6 for \uXXXX, and a
        // surrogate pair's halves stay together), never the whole value.
        var limit = BoundedText.MaxChars * 2;
        var cut = 0;
        for (var i = 0; i < limit;)
        {
            cut = i;
            if (raw[i] != (byte)'\\')
            {
                i++;
                continue;
            }

            var length = raw[i + 1] == (byte)'u' ? 6 : 2;
            if (length == 6 && IsHighSurrogateEscape(raw[i..]))
            {
                length = 12;
            }

            i += length;
        }

        while (cut > 0 && (raw[cut] & 0xC0) == 0x80)
        {
            cut--;
        }

        var quoted = new byte[cut + 2];
        quoted[0] = (byte)'"';
        raw[..cut].CopyTo(quoted.AsSpan(1));
        quoted[^1] = (byte)'"';
        var prefixReader = new Utf8JsonReader(quoted);
        prefixReader.Read();
        var prefix = prefixReader.GetString()!;
        return (prefix.Length > BoundedText.MaxChars ? BoundedText.Truncate(prefix) : prefix + BoundedText.LeftOut(raw.Length - cut, "bytes"), true);
    }

    private static bool IsHighSurrogateEscape(ReadOnlySpan<byte> escape) =>
        escape.Length >= 6 && (escape[2] | 0x20) == (byte)'d' && escape[3] is (byte)'8' or (byte)'9' or (byte)'a' or (byte)'b' or (byte)'A' or (byte)'B';

    private struct Inner
    {
        public string? Message;
        public string? Type;
        public bool Truncated;
        public long? PromptTokens;
        public long? ContextTokens;
    }
}
