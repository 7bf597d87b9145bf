using System.Globalization;
using System.Text.Json;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Translation;
using LlamaGateway.Errors;

namespace LlamaGateway.Reliability;

/// <summary>
/// The shape every model request must have before it is forwarded, checked on the normalized body in one pass: the
/// fields the route needs, their JSON types, and no duplicate keys in the request object, its messages and their
/// blocks (parsers disagree on which duplicate wins, so the gateway and the upstream could read different requests).
/// Pass-through routes would otherwise hand such a body to the upstream as it is; a translated one would fail later
/// with a less precise message. Known top-level fields are checked against their route's <see cref="FieldPolicy"/>
/// rule (type, range, and the values of fields the gateway owns that it refuses), and every number in the body must
/// be finite: llama-server answers a parse error or a wrong type with a 500, which would count against the instance.
/// Unknown fields pass: clients add them all the time.
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
            return $"request body is not valid JSON: {BoundedText.Truncate(e.Message)}";
        }

        using (tape)
        {
            return Check(tape, route);
        }
    }

    /// <summary>As <see cref="Check(ReadOnlySpan{byte}, ApiRoute)"/> on the tape of a body (the request path's, built once).</summary>
    public static string? Check(JsonTape tape, ApiRoute route)
    {
        if (CheckNumbers(tape) is { } numberProblem)
        {
            return numberProblem;
        }

        var reader = new JsonTokenizer(tape);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return "request body must be a JSON object";
        }

        return CheckRequest(ref reader, tape, route);
    }

    /// <summary>
    /// Whether a value at tape index <paramref name="value"/> is one the gateway accepts for the known field
    /// <paramref name="rule"/>: its JSON type, its range, and for fields the gateway owns, a value it can own (one
    /// completion, no LoRA adapters, one prompt, an integer output limit). Null when it is; else what is wrong, naming
    /// the field. The patcher asks the same before it forwards anything.
    /// </summary>
    public static string? CheckField(in FieldRule rule, JsonTape tape, int value)
    {
        var type = tape.TypeAt(value);
        var kind = type switch
        {
            JsonTokenType.String => JsonKinds.String,
            JsonTokenType.Number => JsonKinds.Number,
            JsonTokenType.True or JsonTokenType.False => JsonKinds.Boolean,
            JsonTokenType.StartObject => JsonKinds.Object,
            JsonTokenType.StartArray => JsonKinds.Array,
            _ => JsonKinds.None,
        };

        // null is "not sent" to llama-server (and to the gateway).
        if (kind == JsonKinds.None)
        {
            return null;
        }

        if ((rule.Kinds & kind) == 0)
        {
            return $"{rule.Name} must be {rule.KindsText()}";
        }

        switch (rule.Ownership)
        {
            case FieldOwnership.OutputLimit:
                if (!OutputTokenLimit.TryRead(tape.ValueAt(value), out var limit))
                {
                    return $"{rule.Name} must be an integer";
                }

                return limit < rule.Min ? $"{rule.Name} must be a positive integer" : null;
            case FieldOwnership.SingleCompletion:
                return OutputTokenLimit.TryRead(tape.ValueAt(value), out var count) && count == 1
                    ? null
                    : $"{rule.Name} must be 1: the gateway runs one completion per request (llama-server would run the others on other users' slots, overwriting their caches); send separate requests instead";
            case FieldOwnership.EmptyOnly:
                return tape.EndAt(value) == value + 2
                    ? null
                    : $"{rule.Name} is not available through the gateway: per-request LoRA adapters keep a slot out of the batch every other slot shares; send null or []";
            case FieldOwnership.SinglePrompt when kind == JsonKinds.Array && IsSeveralPrompts(tape, value):
                return $"{rule.Name} must be one prompt: an array of several runs one completion per prompt; send separate requests instead";
            case FieldOwnership.Passed when kind == JsonKinds.Number && (rule.Min > double.NegativeInfinity || rule.Max < double.PositiveInfinity):
                // Parsed only for the few ranged fields a request has; the rest are read by llama-server as floats.
                return double.TryParse(tape.ValueAt(value), NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number >= rule.Min && number <= rule.Max
                    ? null
                    : $"{rule.Name} must be between {Bound(rule.Min)} and {Bound(rule.Max)}, got {BoundedText.FromUtf8(tape.ValueAt(value))}";
            default:
                return null;
        }
    }

    /// <summary>The name the reader is on, for an error: decoded and cut; a long escaped one as written, never decoded whole.</summary>
    private static string CurrentName(ref JsonTokenizer reader) =>
        !reader.ValueIsEscaped || reader.ValueSpan.Length > BoundedText.MaxChars * 4
            ? BoundedText.FromUtf8(reader.ValueSpan)
            : BoundedText.Truncate(reader.GetString());

    private static string Bound(double bound) =>
        bound.ToString(bound == Math.Floor(bound) ? "F0" : "R", CultureInfo.InvariantCulture);

    /// <summary>
    /// llama-server reads a prompt array that holds a number as one prompt (tokens, maybe mixed with strings) and any
    /// other array as one prompt per element.
    /// </summary>
    private static bool IsSeveralPrompts(JsonTape tape, int array)
    {
        var end = tape.EndAt(array) - 1;
        var elements = 0;
        for (var i = array + 1; i < end; i = tape.EndAt(i))
        {
            if (tape.TypeAt(i) == JsonTokenType.Number)
            {
                return false;
            }

            elements++;
        }

        return elements > 1;
    }

    /// <summary>
    /// Every number in the body must be a finite double: llama-server's JSON parser rejects one that is not (1e999,
    /// a 400-digit integer) as a parse error, which it answers with a 500. One pass over the tape's entries; a number
    /// is parsed only when its text could overflow (an exponent, or 309 characters and more).
    /// </summary>
    private static string? CheckNumbers(JsonTape tape)
    {
        for (var i = 0; i < tape.Count; i++)
        {
            if (tape.TypeAt(i) != JsonTokenType.Number)
            {
                continue;
            }

            var text = tape.ValueAt(i);
            if ((text.Length < 309 && text.IndexOfAny((byte)'e', (byte)'E') < 0)
                || (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)))
            {
                continue;
            }

            return $"{JsonLocation.Describe(tape.Json, tape.EntryAt(i).Start)} is out of range: {BoundedText.FromUtf8(text)} is not a finite number";
        }

        return null;
    }

    /// <summary>
    /// The request object's members, each against its route's <see cref="FieldPolicy"/> rule, and the members whose
    /// content needs a deeper look (messages, system, prompt); then the members the route requires.
    /// </summary>
    private static string? CheckRequest(ref JsonTokenizer reader, JsonTape tape, ApiRoute route)
    {
        var body = tape.Json;
        var anthropic = route is ApiRoute.Messages or ApiRoute.CountTokens;
        var names = new NameSet(body);
        var sawModel = false;
        var sawMessages = false;
        var sawPrompt = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (names.AddIsDuplicate(ref reader))
            {
                return $"duplicate key \"{CurrentName(ref reader)}\" in the request object";
            }

            var rule = FieldPolicy.Find(route, ref reader);
            var member = route == ApiRoute.Completion
                ? reader.ValueTextEquals("prompt"u8) ? Member.Prompt : Member.Other
                : reader.ValueTextEquals("model"u8) ? Member.Model
                : reader.ValueTextEquals("messages"u8) ? Member.Messages
                : anthropic && reader.ValueTextEquals("system"u8) ? Member.System
                : Member.Other;
            reader.Read();
            var problem = rule.IsKnown ? CheckField(rule, tape, reader.TapeIndex) : null;
            if (problem is null && reader.TokenType != JsonTokenType.Null)
            {
                switch (member)
                {
                    case Member.Model:
                        sawModel = true;
                        break;
                    case Member.Messages:
                        sawMessages = true;
                        problem = CheckMessages(ref reader, anthropic, body);
                        break;
                    case Member.System:
                        problem = CheckBlocks(ref reader, body, -1);
                        break;
                    case Member.Prompt:
                        sawPrompt = true;
                        break;
                }
            }

            if (problem is not null)
            {
                return problem;
            }

            reader.Skip();
        }

        if (route == ApiRoute.Completion)
        {
            return sawPrompt ? null : "prompt is required";
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
                    return $"duplicate key \"{CurrentName(ref reader)}\" in {MessagePath(index)}";
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
                    return $"duplicate key \"{CurrentName(ref reader)}\" in {BlockPath(message, index)}";
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

    private static string MessagePath(int index) => $"messages[{index}]";

    private static string BlockPath(int message, int index) =>
        message < 0 ? $"system[{index}]" : $"messages[{message}].content[{index}]";

    /// <summary>The request members whose content the shape check reads beyond their type.</summary>
    private enum Member
    {
        Other,
        Model,
        Messages,
        System,
        Prompt,
    }

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
