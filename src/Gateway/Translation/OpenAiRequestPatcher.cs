using System.Buffers;
using System.Buffers.Text;
using System.Text.Json;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Translation;

/// <summary>Adds <c>id_slot</c> and <c>cache_prompt</c> to an OpenAI-dialect body and clamps its max tokens.</summary>
/// <remarks>
/// Works on <c>/v1/chat/completions</c> and <c>/completion</c> bodies alike: every top-level property is copied
/// byte for byte except the ones it owns, so a client's own formatting (and its prompt bytes) survive untouched.
/// llama-server reads <c>n_predict</c>, then <c>max_completion_tokens</c>, then <c>max_tokens</c>, so all three
/// are clamped; a negative value means "no limit" there and is clamped too.
/// </remarks>
internal static class OpenAiRequestPatcher
{
    public static TranslationOutcome Patch(ReadOnlySpan<byte> openAiBody, in ChatRequestSettings settings, IBufferWriter<byte> output)
    {
        using var buffer = new PooledBuffer(openAiBody.Length + 64);
        var stream = false;
        var model = string.Empty;
        var sawLimit = false;
        try
        {
            var reader = new Utf8JsonReader(openAiBody);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return TranslationOutcome.Fail("request body must be a JSON object");
            }

            buffer.Write("{"u8);
            var first = true;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var propertyStart = (int)reader.TokenStartIndex;
                var kind = Classify(ref reader);
                reader.Read();
                var valueStart = (int)reader.TokenStartIndex;
                var valueKind = reader.TokenType;
                long number = 0;
                var isInteger = valueKind == JsonTokenType.Number && reader.TryGetInt64(out number);
                if (kind == PropertyKind.Model && valueKind == JsonTokenType.String)
                {
                    model = reader.GetString()!;
                }

                reader.Skip();
                var propertyEnd = (int)reader.BytesConsumed;

                switch (kind)
                {
                    case PropertyKind.Owned:
                        continue;
                    case PropertyKind.Stream:
                        stream = valueKind == JsonTokenType.True;
                        break;
                    case PropertyKind.Limit:
                        sawLimit = true;
                        if (settings.MaxOutputTokens is { } limit
                            && (valueKind == JsonTokenType.Null || (isInteger && (number < 0 || number > limit))))
                        {
                            Separator(buffer, ref first);
                            buffer.Write(openAiBody[propertyStart..valueStart]);
                            WriteInt(buffer, limit);
                            continue;
                        }

                        break;
                }

                Separator(buffer, ref first);
                buffer.Write(openAiBody[propertyStart..propertyEnd]);
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return TranslationOutcome.Fail("request body must be a single JSON object");
            }

            if (!sawLimit && settings.MaxOutputTokens is { } cap)
            {
                Separator(buffer, ref first);
                buffer.Write("\"max_tokens\":"u8);
                WriteInt(buffer, cap);
            }

            if (settings.IdSlot is { } slot)
            {
                Separator(buffer, ref first);
                buffer.Write("\"id_slot\":"u8);
                WriteInt(buffer, slot);
            }

            Separator(buffer, ref first);
            buffer.Write(settings.IsolatePrompt ? "\"cache_prompt\":false}"u8 : "\"cache_prompt\":true}"u8);
        }
        catch (JsonException e)
        {
            return TranslationOutcome.Fail($"request body is not valid JSON: {e.Message}");
        }

        output.Write(buffer.WrittenSpan);
        return new TranslationOutcome(true, null, stream, model);
    }

    private static PropertyKind Classify(ref Utf8JsonReader reader)
    {
        if (reader.ValueTextEquals("id_slot"u8) || reader.ValueTextEquals("cache_prompt"u8))
        {
            return PropertyKind.Owned;
        }

        if (reader.ValueTextEquals("max_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8)
            || reader.ValueTextEquals("n_predict"u8))
        {
            return PropertyKind.Limit;
        }

        if (reader.ValueTextEquals("stream"u8))
        {
            return PropertyKind.Stream;
        }

        return reader.ValueTextEquals("model"u8) ? PropertyKind.Model : PropertyKind.Other;
    }

    private static void Separator(PooledBuffer buffer, ref bool first)
    {
        if (!first)
        {
            buffer.Write(","u8);
        }

        first = false;
    }

    private static void WriteInt(PooledBuffer buffer, long value)
    {
        var span = buffer.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out var written);
        buffer.Advance(written);
    }

    private enum PropertyKind
    {
        Other,
        Owned,
        Limit,
        Stream,
        Model,
    }
}
