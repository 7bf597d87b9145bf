using System.Buffers;
using System.Text.Json;
using LlamaGateway.Pipeline;
using LlamaGateway.Usage;

namespace LlamaGateway.Translation;

/// <summary>Translates a non-streamed OpenAI chat completion (llama-server's) into an Anthropic message.</summary>
internal static class OpenAiToAnthropicResponse
{
    /// <summary>
    /// Writes the Anthropic message for <paramref name="openAiJson"/> and fills <paramref name="usage"/>. When the
    /// upstream body is an error (or not a completion at all) it writes an Anthropic error body instead.
    /// </summary>
    /// <param name="model">The model name the client asked for, echoed back.</param>
    /// <param name="errorType">When false is returned: the Anthropic error type written (see
    /// <see cref="AnthropicErrors.StatusCodeFor"/> for its status).</param>
    /// <returns>True when a message was written.</returns>
    public static bool Translate(ReadOnlySpan<byte> openAiJson, string model, IBufferWriter<byte> output, UpstreamUsage usage, out string errorType)
    {
        errorType = AnthropicErrors.Api;
        var copy = ArrayPool<byte>.Shared.Rent(Math.Max(1, openAiJson.Length));
        try
        {
            openAiJson.CopyTo(copy);
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(copy.AsMemory(0, openAiJson.Length), JsonText.DocumentOptions);
            }
            catch (JsonException)
            {
                AnthropicErrors.WriteBody(errorType, "upstream sent a response that is not valid JSON", output);
                return false;
            }

            using (document)
            {
                var root = document.RootElement;
                if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error"u8, out _))
                {
                    errorType = TranslateError(openAiJson, output);
                    return false;
                }

                if (root.ValueKind != JsonValueKind.Object
                    || !root.TryGetProperty("choices"u8, out var choices) || choices.ValueKind != JsonValueKind.Array
                    || choices.GetArrayLength() == 0
                    || !choices[0].TryGetProperty("message"u8, out var message) || message.ValueKind != JsonValueKind.Object)
                {
                    AnthropicErrors.WriteBody(errorType, "upstream response has no choices[0].message", output);
                    return false;
                }

                new UpstreamUsageReader(usage).ReadOpenAi(openAiJson);
                using var body = new PooledBuffer(openAiJson.Length + 512);
                try
                {
                    WriteMessage(choices[0], message, model, usage, body);
                }
                catch (InvalidOperationException)
                {
                    // Undecodable text (a lone surrogate escape); llama-server does not produce it.
                    AnthropicErrors.WriteBody(errorType, "upstream response contains text that cannot be decoded", output);
                    return false;
                }

                output.Write(body.WrittenSpan);
                return true;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    /// <summary>Writes the Anthropic error body for an OpenAI error body (e.g. a llama-server 4xx/5xx).</summary>
    /// <returns>The Anthropic error type written.</returns>
    public static string TranslateError(ReadOnlySpan<byte> openAiErrorJson, IBufferWriter<byte> output)
    {
        if (!AnthropicErrors.TryReadOpenAiError(openAiErrorJson, out var type, out var message))
        {
            type = AnthropicErrors.Api;
            message = "upstream reported an error";
        }

        AnthropicErrors.WriteBody(type, message, output);
        return type;
    }

    private static void WriteMessage(JsonElement choice, JsonElement message, string model, UpstreamUsage usage, IBufferWriter<byte> output)
    {
        using var writer = new Utf8JsonWriter(output, JsonText.WriterOptions);
        writer.WriteStartObject();
        writer.WriteString("id"u8, AnthropicIds.NewMessageId());
        writer.WriteString("type"u8, "message"u8);
        writer.WriteString("role"u8, "assistant"u8);
        writer.WriteString("model"u8, model);
        writer.WritePropertyName("content"u8);
        writer.WriteStartArray();

        if (message.TryGetProperty("reasoning_content"u8, out var reasoning) && reasoning.ValueKind == JsonValueKind.String
            && !JsonText.IsEmptyString(reasoning))
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, "thinking"u8);
            writer.WritePropertyName("thinking"u8);
            reasoning.WriteTo(writer);
            writer.WriteString("signature"u8, ""u8);
            writer.WriteEndObject();
        }

        if (message.TryGetProperty("content"u8, out var content) && content.ValueKind == JsonValueKind.String
            && !JsonText.IsEmptyString(content))
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, "text"u8);
            writer.WritePropertyName("text"u8);
            content.WriteTo(writer);
            writer.WriteEndObject();
        }

        var toolUses = 0;
        if (message.TryGetProperty("tool_calls"u8, out var toolCalls) && toolCalls.ValueKind == JsonValueKind.Array)
        {
            using var scratch = new PooledBuffer(1024);
            foreach (var call in toolCalls.EnumerateArray())
            {
                if (call.ValueKind != JsonValueKind.Object
                    || !call.TryGetProperty("function"u8, out var function) || function.ValueKind != JsonValueKind.Object
                    || !function.TryGetProperty("name"u8, out var name) || name.ValueKind != JsonValueKind.String)
                {
                    continue;
                }

                writer.WriteStartObject();
                writer.WriteString("type"u8, "tool_use"u8);
                writer.WritePropertyName("id"u8);
                if (call.TryGetProperty("id"u8, out var id) && id.ValueKind == JsonValueKind.String && !JsonText.IsEmptyString(id))
                {
                    id.WriteTo(writer);
                }
                else
                {
                    writer.WriteStringValue(AnthropicIds.NewToolUseId());
                }

                writer.WritePropertyName("name"u8);
                name.WriteTo(writer);
                writer.WritePropertyName("input"u8);
                WriteInput(function, scratch, writer);
                writer.WriteEndObject();
                toolUses++;
            }
        }

        writer.WriteEndArray();

        var finish = choice.TryGetProperty("finish_reason"u8, out var reason) && reason.ValueKind == JsonValueKind.String
            ? reason.GetString()
            : null;
        writer.WriteString("stop_reason"u8, finish switch
        {
            "length" => "max_tokens",
            "content_filter" => "refusal",
            _ when finish is "tool_calls" or "function_call" || toolUses > 0 => "tool_use",
            _ => "end_turn",
        });
        writer.WriteNull("stop_sequence"u8);

        writer.WritePropertyName("usage"u8);
        writer.WriteStartObject();
        writer.WriteNumber("input_tokens"u8, Math.Max(usage.RecomputedTokens, 0));
        writer.WriteNumber("cache_creation_input_tokens"u8, 0);
        writer.WriteNumber("cache_read_input_tokens"u8, Math.Max(usage.CachedTokens, 0));
        writer.WriteNumber("output_tokens"u8, Math.Max(usage.OutputTokens, 0));
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>
    /// The tool input as a JSON object. OpenAI carries it as a string of JSON; one that does not parse to an object
    /// (a truncated call) becomes <c>{}</c>, as llama-server's own Anthropic endpoint does.
    /// </summary>
    private static void WriteInput(JsonElement function, PooledBuffer scratch, Utf8JsonWriter writer)
    {
        if (!function.TryGetProperty("arguments"u8, out var arguments))
        {
            WriteEmptyObject(writer);
            return;
        }

        if (arguments.ValueKind == JsonValueKind.Object)
        {
            arguments.WriteTo(writer);
            return;
        }

        if (arguments.ValueKind != JsonValueKind.String)
        {
            WriteEmptyObject(writer);
            return;
        }

        scratch.Clear();
        JsonText.WriteDecoded(arguments, scratch);
        try
        {
            using var parsed = JsonDocument.Parse(scratch.WrittenMemory, JsonText.DocumentOptions);
            if (parsed.RootElement.ValueKind == JsonValueKind.Object)
            {
                parsed.RootElement.WriteTo(writer);
                return;
            }
        }
        catch (JsonException)
        {
        }

        WriteEmptyObject(writer);
    }

    private static void WriteEmptyObject(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteEndObject();
    }
}
