using System.Text.Json;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Reliability;

/// <summary>
/// The shape every model request must have before it is forwarded, checked on the normalized body in one pass: the
/// fields the route needs, their JSON types, and no duplicate keys in the request object, its messages and their
/// blocks (parsers disagree on which duplicate wins, so the gateway and the upstream could read different requests).
/// Pass-through routes would otherwise hand such a body to the upstream as it is; a translated one would fail later
/// with a less precise message. Unknown fields pass: clients add them all the time.
/// </summary>
internal static class RequestShapeCheck
{
    /// <summary>Null when the body may be forwarded, else what is wrong (naming the field).</summary>
    public static string? Check(ReadOnlySpan<byte> body, ApiRoute route)
    {
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 1024 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return "request body must be a JSON object";
            }

            return route switch
            {
                ApiRoute.Completion => CheckCompletion(ref reader),
                _ => CheckMessagesBody(ref reader, route),
            };
        }
        catch (JsonException e)
        {
            return $"request body is not valid JSON: {e.Message}";
        }
    }

    private static string? CheckMessagesBody(ref Utf8JsonReader reader, ApiRoute route)
    {
        var anthropic = route != ApiRoute.ChatCompletions;
        var names = new HashSet<string>(StringComparer.Ordinal);
        var sawModel = false;
        var sawMessages = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            if (!names.Add(name))
            {
                return $"duplicate key \"{name}\" in the request object";
            }

            reader.Read();
            var problem = name switch
            {
                "model" => (sawModel = true) && reader.TokenType != JsonTokenType.String ? "model must be a string" : null,
                "messages" => (sawMessages = true) && reader.TokenType == JsonTokenType.StartArray ? CheckMessages(ref reader, anthropic) : "messages must be an array",
                "system" when anthropic => reader.TokenType is JsonTokenType.String or JsonTokenType.StartArray ? CheckBlocks(ref reader, "system") : "system must be a string or an array",
                "max_tokens" or "max_completion_tokens" or "n_predict" => Integer(ref reader, name),
                "stream" => reader.TokenType is JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null ? null : "stream must be true or false",
                _ => null,
            };
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

    private static string? CheckMessages(ref Utf8JsonReader reader, bool anthropic)
    {
        var index = 0;
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var at = $"messages[{index}]";
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return $"{at} must be an object";
            }

            names.Clear();
            var sawRole = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!;
                if (!names.Add(name))
                {
                    return $"duplicate key \"{name}\" in {at}";
                }

                reader.Read();
                string? problem = null;
                if (name == "role")
                {
                    sawRole = true;
                    problem = reader.TokenType == JsonTokenType.String ? null : $"{at}.role must be a string";
                }
                else if (name == "content")
                {
                    problem = reader.TokenType switch
                    {
                        JsonTokenType.String or JsonTokenType.StartArray => CheckBlocks(ref reader, $"{at}.content"),

                        // OpenAI assistant turns with tool_calls carry "content": null.
                        JsonTokenType.Null when !anthropic => null,
                        _ => $"{at}.content must be a string or an array",
                    };
                }

                if (problem is not null)
                {
                    return problem;
                }

                reader.Skip();
            }

            if (!sawRole)
            {
                return $"{at}.role is required";
            }

            index++;
        }

        return null;
    }

    /// <summary>A string, or an array of content blocks: objects with a string type, and string text for text blocks.</summary>
    private static string? CheckBlocks(ref Utf8JsonReader reader, string at)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return null;
        }

        var start = reader;
        var index = 0;
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var block = $"{at}[{index}]";
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return $"{block} must be an object";
            }

            names.Clear();
            string? type = null;
            var textIsString = true;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!;
                if (!names.Add(name))
                {
                    return $"duplicate key \"{name}\" in {block}";
                }

                reader.Read();
                if (name == "type")
                {
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return $"{block}.type must be a string";
                    }

                    type = reader.GetString();
                }
                else if (name == "text")
                {
                    textIsString = reader.TokenType == JsonTokenType.String;
                }

                reader.Skip();
            }

            if (type is null)
            {
                return $"{block}.type is required";
            }

            if (type == "text" && (!textIsString || !names.Contains("text")))
            {
                return $"{block}.text must be a string";
            }

            index++;
        }

        // The caller skips the value from where it started; the reader is already past it.
        reader = start;
        return null;
    }

    private static string? CheckCompletion(ref Utf8JsonReader reader)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var sawPrompt = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            if (!names.Add(name))
            {
                return $"duplicate key \"{name}\" in the request object";
            }

            reader.Read();
            var problem = name switch
            {
                // llama-server takes a string, an array of tokens and strings, or an array of those (batch).
                "prompt" => (sawPrompt = true) && reader.TokenType is JsonTokenType.String or JsonTokenType.StartArray ? null : "prompt must be a string or an array",
                "n_predict" or "max_tokens" => Integer(ref reader, name),
                "stream" => reader.TokenType is JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null ? null : "stream must be true or false",
                _ => null,
            };
            if (problem is not null)
            {
                return problem;
            }

            reader.Skip();
        }

        return sawPrompt ? null : "prompt is required";
    }

    private static string? Integer(ref Utf8JsonReader reader, string name) =>
        reader.TokenType == JsonTokenType.Null || (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out _))
            ? null
            : $"{name} must be an integer";
}
