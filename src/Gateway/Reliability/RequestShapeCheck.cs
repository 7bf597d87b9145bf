using System.Text.Json;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Reliability;

/// <summary>
/// The shape every model request must have before it is forwarded, checked on the normalized body in one pass: the
/// fields the route needs, their JSON types, and no duplicate keys in the request object, its messages and their
/// blocks (parsers disagree on which duplicate wins, so the gateway and the upstream could read different requests).
/// Pass-through routes would otherwise hand such a body to the upstream as it is; a translated one would fail later
/// with a less precise message. Unknown fields pass: clients add them all the time.
/// It runs on every request, so it replays the body's <see cref="JsonTape"/> (built once, after normalization) rather
/// than scanning the bytes again, and builds no strings unless it reports a problem.
/// </summary>
internal static class RequestShapeCheck
{
    /// <summary>Null when the body may be forwarded, else what is wrong (naming the field).</summary>
    public static string? Check(ReadOnlySpan<byte> body, ApiRoute route)
    {
        JsonTape tape;
        try
        {
            tape = JsonTape.Parse(body.ToArray(), RequestNormalizer.MaxDepth);
        }
        catch (JsonException e)
        {
            return $"request body is not valid JSON: {e.Message}";
        }

        using (tape)
        {
            return Check(tape, route);
        }
    }

    /// <summary>As <see cref="Check(ReadOnlySpan{byte}, ApiRoute)"/> on the tape of a body (the request path's, built once).</summary>
    public static string? Check(JsonTape tape, ApiRoute route)
    {
        var body = tape.Json;
        var reader = new JsonTokenizer(tape);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return "request body must be a JSON object";
        }

        return route switch
        {
            ApiRoute.Completion => CheckCompletion(ref reader, body),
            _ => CheckMessagesBody(ref reader, route, body),
        };
    }

    private static string? CheckMessagesBody(ref JsonTokenizer reader, ApiRoute route, ReadOnlySpan<byte> body)
    {
        var anthropic = route != ApiRoute.ChatCompletions;
        var names = new NameSet(body);
        var sawModel = false;
        var sawMessages = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (names.AddIsDuplicate(ref reader))
            {
                return $"duplicate key \"{reader.GetString()}\" in the request object";
            }

            string? problem = null;
            if (reader.ValueTextEquals("model"u8))
            {
                sawModel = true;
                reader.Read();
                problem = reader.TokenType != JsonTokenType.String ? "model must be a string" : null;
            }
            else if (reader.ValueTextEquals("messages"u8))
            {
                sawMessages = true;
                reader.Read();
                problem = reader.TokenType == JsonTokenType.StartArray ? CheckMessages(ref reader, anthropic, body) : "messages must be an array";
            }
            else if (anthropic && reader.ValueTextEquals("system"u8))
            {
                reader.Read();
                problem = reader.TokenType is JsonTokenType.String or JsonTokenType.StartArray ? CheckBlocks(ref reader, body, -1) : "system must be a string or an array";
            }
            else if (reader.ValueTextEquals("max_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8) || reader.ValueTextEquals("n_predict"u8))
            {
                var name = reader.GetString();
                reader.Read();
                problem = Integer(ref reader, name);
            }
            else if (reader.ValueTextEquals("stream"u8))
            {
                reader.Read();
                problem = StreamFlag(ref reader);
            }
            else
            {
                reader.Read();
            }

            if (problem is not null)
            {
                return problem;
            }

            reader.Skip();
        }

        if (!sawMessages)
        {
            return "messages is required";
        }

        return anthropic && !sawModel ? "model is required" : null;
    }

    /// <summary>From the array's start to its end (the reader is left on the EndArray).</summary>
    private static string? CheckMessages(ref JsonTokenizer reader, bool anthropic, ReadOnlySpan<byte> body)
    {
        var index = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return $"{MessagePath(index)} must be an object";
            }

            var names = new NameSet(body);
            var sawRole = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (names.AddIsDuplicate(ref reader))
                {
                    return $"duplicate key \"{reader.GetString()}\" in {MessagePath(index)}";
                }

                string? problem = null;
                if (reader.ValueTextEquals("role"u8))
                {
                    sawRole = true;
                    reader.Read();
                    problem = reader.TokenType == JsonTokenType.String ? null : $"{MessagePath(index)}.role must be a string";
                }
                else if (reader.ValueTextEquals("content"u8))
                {
                    reader.Read();
                    problem = reader.TokenType switch
                    {
                        JsonTokenType.String or JsonTokenType.StartArray => CheckBlocks(ref reader, body, index),

                        // OpenAI assistant turns with tool_calls carry "content": null.
                        JsonTokenType.Null when !anthropic => null,
                        _ => $"{MessagePath(index)}.content must be a string or an array",
                    };
                }
                else
                {
                    reader.Read();
                }

                if (problem is not null)
                {
                    return problem;
                }

                reader.Skip();
            }

            if (!sawRole)
            {
                return $"{MessagePath(index)}.role is required";
            }

            index++;
        }

        return null;
    }

    /// <summary>
    /// A string, or an array of content blocks: objects with a string type, and string text for text blocks.
    /// <paramref name="message"/> is the message's index, or -1 for the top-level system. An array is read to its end.
    /// </summary>
    private static string? CheckBlocks(ref JsonTokenizer reader, ReadOnlySpan<byte> body, int message)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return null;
        }

        var index = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return $"{BlockPath(message, index)} must be an object";
            }

            var names = new NameSet(body);
            var sawType = false;
            var isText = false;
            var sawText = false;
            var textIsString = true;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (names.AddIsDuplicate(ref reader))
                {
                    return $"duplicate key \"{reader.GetString()}\" in {BlockPath(message, index)}";
                }

                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return $"{BlockPath(message, index)}.type must be a string";
                    }

                    sawType = true;
                    isText = reader.ValueTextEquals("text"u8);
                }
                else if (reader.ValueTextEquals("text"u8))
                {
                    reader.Read();
                    sawText = true;
                    textIsString = reader.TokenType == JsonTokenType.String;
                }
                else
                {
                    reader.Read();
                }

                reader.Skip();
            }

            if (!sawType)
            {
                return $"{BlockPath(message, index)}.type is required";
            }

            if (isText && (!textIsString || !sawText))
            {
                return $"{BlockPath(message, index)}.text must be a string";
            }

            index++;
        }

        return null;
    }

    private static string? CheckCompletion(ref JsonTokenizer reader, ReadOnlySpan<byte> body)
    {
        var names = new NameSet(body);
        var sawPrompt = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (names.AddIsDuplicate(ref reader))
            {
                return $"duplicate key \"{reader.GetString()}\" in the request object";
            }

            string? problem = null;
            if (reader.ValueTextEquals("prompt"u8))
            {
                // llama-server takes a string, an array of tokens and strings, or an array of those (batch).
                sawPrompt = true;
                reader.Read();
                problem = reader.TokenType is JsonTokenType.String or JsonTokenType.StartArray ? null : "prompt must be a string or an array";
            }
            else if (reader.ValueTextEquals("n_predict"u8) || reader.ValueTextEquals("max_tokens"u8))
            {
                var name = reader.GetString();
                reader.Read();
                problem = Integer(ref reader, name);
            }
            else if (reader.ValueTextEquals("stream"u8))
            {
                reader.Read();
                problem = StreamFlag(ref reader);
            }
            else
            {
                reader.Read();
            }

            if (problem is not null)
            {
                return problem;
            }

            reader.Skip();
        }

        return sawPrompt ? null : "prompt is required";
    }

    private static string? Integer(ref JsonTokenizer reader, string name) =>
        reader.TokenType == JsonTokenType.Null || (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out _))
            ? null
            : $"{name} must be an integer";

    private static string? StreamFlag(ref JsonTokenizer reader) =>
        reader.TokenType is JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null ? null : "stream must be true or false";

    private static string MessagePath(int index) => $"messages[{index}]";

    private static string BlockPath(int message, int index) =>
        message < 0 ? $"system[{index}]" : $"messages[{message}].content[{index}]";

    /// <summary>
    /// The member names of one object seen so far, as positions in the body: no strings for the few names a request
    /// object, message or block has. Escaped names (rare) are compared decoded.
    /// </summary>
    private ref struct NameSet(ReadOnlySpan<byte> body)
    {
        private const int Inline = 16;
        private readonly ReadOnlySpan<byte> _body = body;
        private InlineNames _names;
        private int _count;
        private HashSet<string>? _overflow;

        /// <summary>Records the name the reader is on; true when the object already had it.</summary>
        public bool AddIsDuplicate(ref JsonTokenizer reader)
        {
            if (_overflow is not null || reader.ValueIsEscaped)
            {
                return !Overflow().Add(reader.GetString());
            }

            var raw = reader.ValueSpan;
            for (var i = 0; i < _count; i++)
            {
                var (start, length) = _names[i];
                if (_body.Slice(start, length).SequenceEqual(raw))
                {
                    return true;
                }
            }

            if (_count == Inline)
            {
                return !Overflow().Add(reader.GetString());
            }

            _names[_count++] = ((int)reader.TokenStartIndex + 1, raw.Length);
            return false;
        }

        private HashSet<string> Overflow()
        {
            if (_overflow is null)
            {
                _overflow = new HashSet<string>(StringComparer.Ordinal);
                for (var i = 0; i < _count; i++)
                {
                    var (start, length) = _names[i];
                    _overflow.Add(System.Text.Encoding.UTF8.GetString(_body.Slice(start, length)));
                }
            }

            return _overflow;
        }

        [System.Runtime.CompilerServices.InlineArray(Inline)]
        private struct InlineNames
        {
            private (int Start, int Length) _element;
        }
    }
}
