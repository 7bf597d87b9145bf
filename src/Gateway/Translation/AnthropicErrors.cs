using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace LlamaGateway.Translation;

/// <summary>Anthropic error bodies and events, and the mapping from OpenAI / llama-server errors to them.</summary>
internal static class AnthropicErrors
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Authentication = "authentication_error";
    public const string Permission = "permission_error";
    public const string NotFound = "not_found_error";
    public const string RateLimit = "rate_limit_error";
    public const string Api = "api_error";
    public const string Overloaded = "overloaded_error";

    /// <summary>The HTTP status Anthropic uses for an error type.</summary>
    public static int StatusCodeFor(string anthropicType) => anthropicType switch
    {
        InvalidRequest => 400,
        Authentication => 401,
        Permission => 403,
        NotFound => 404,
        RateLimit => 429,
        Overloaded => 529,
        _ => 500,
    };

    /// <summary>Maps an OpenAI / llama-server error type (<c>format_error_response</c>) to an Anthropic one.</summary>
    public static string FromOpenAiType(string? openAiType) => openAiType switch
    {
        "invalid_request_error" or "exceed_context_size_error" or "not_supported_error" => InvalidRequest,
        "authentication_error" => Authentication,
        "permission_error" => Permission,
        "not_found_error" => NotFound,
        "rate_limit_error" or "rate_limit_exceeded" => RateLimit,
        "unavailable_error" => Overloaded,
        _ => Api,
    };

    /// <summary>
    /// Reads an OpenAI-style error, wrapped (<c>{"error":{...}}</c>) or bare (<c>{"code":..,"message":..,"type":..}</c>,
    /// as old llama-server builds stream it in an <c>error:</c> SSE field), and maps it to Anthropic terms.
    /// </summary>
    /// <remarks>
    /// llama-server's context overflow becomes Anthropic's own wording, "prompt is too long: N tokens > M maximum",
    /// because that text is what Claude Code looks for before it compacts a conversation.
    /// </remarks>
    public static bool TryReadOpenAiError(ReadOnlySpan<byte> json, out string anthropicType, out string message)
    {
        anthropicType = Api;
        message = string.Empty;
        var copy = ArrayPool<byte>.Shared.Rent(Math.Max(1, json.Length));
        try
        {
            json.CopyTo(copy);
            using var document = JsonDocument.Parse(copy.AsMemory(0, json.Length));
            var error = document.RootElement;
            if (error.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            if (error.TryGetProperty("error"u8, out var inner))
            {
                if (inner.ValueKind == JsonValueKind.String)
                {
                    message = inner.GetString()!;
                    return true;
                }

                if (inner.ValueKind != JsonValueKind.Object)
                {
                    return false;
                }

                error = inner;
            }
            else if (!error.TryGetProperty("message"u8, out _))
            {
                return false;
            }

            var openAiType = error.TryGetProperty("type"u8, out var type) && type.ValueKind == JsonValueKind.String
                ? type.GetString()
                : null;
            message = error.TryGetProperty("message"u8, out var text) && text.ValueKind == JsonValueKind.String
                ? text.GetString()!
                : "upstream error";
            anthropicType = FromOpenAiType(openAiType);

            if (openAiType == "exceed_context_size_error"
                && error.TryGetProperty("n_prompt_tokens"u8, out var promptTokens) && promptTokens.TryGetInt64(out var prompt)
                && error.TryGetProperty("n_ctx"u8, out var contextSize) && contextSize.TryGetInt64(out var context))
            {
                message = string.Create(CultureInfo.InvariantCulture, $"prompt is too long: {prompt} tokens > {context} maximum");
            }
            else if (openAiType is null && error.TryGetProperty("code"u8, out var code) && code.TryGetInt32(out var status))
            {
                anthropicType = status switch
                {
                    400 => InvalidRequest,
                    401 => Authentication,
                    403 => Permission,
                    404 => NotFound,
                    429 => RateLimit,
                    503 => Overloaded,
                    _ => Api,
                };
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    /// <summary>Writes <c>{"type":"error","error":{"type":...,"message":...}}</c>.</summary>
    public static void WriteBody(string anthropicType, string message, IBufferWriter<byte> output)
    {
        message = Errors.BoundedText.Truncate(message, Errors.BoundedText.MaxMessageChars);
        using var writer = new Utf8JsonWriter(output, JsonText.WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("type"u8, "error"u8);
        writer.WritePropertyName("error"u8);
        writer.WriteStartObject();
        writer.WriteString("type"u8, anthropicType);
        writer.WriteString("message"u8, message);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>Writes an SSE <c>error</c> event carrying <see cref="WriteBody"/>'s JSON.</summary>
    public static void WriteEvent(string anthropicType, string message, IBufferWriter<byte> output)
    {
        output.Write("event: error\ndata: "u8);
        WriteBody(anthropicType, message, output);
        output.Write("\n\n"u8);
    }
}
