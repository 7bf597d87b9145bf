using System.Buffers;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Translation;

/// <summary>
/// Stage 4: turns the normalized client body into what the chosen upstream understands. Anthropic requests bound for
/// an OpenAI-dialect llama-server become chat completions, because only there does llama-server honour id_slot.
/// </summary>
internal static class UpstreamRequestBuilder
{
    /// <summary>Fills the request's upstream path and body; returns an error message for a 400, or null.</summary>
    public static string? Build(GatewayRequestContext request)
    {
        var lease = request.Lease ?? throw new InvalidOperationException("The request must be routed before it is built.");
        var body = request.Body ?? throw new InvalidOperationException("The request must be read before it is built.");
        var instance = lease.Instance;
        var settings = new ChatRequestSettings(lease.Slot, instance.Options.MaxOutputTokens, IsolatePrompt: lease.Isolated);
        lease.LiftedSinceBuilt = false;

        TranslationOutcome outcome;
        PooledBuffer? output = null;
        switch (request.Route)
        {
            case ApiRoute.CountTokens:
                // llama-server answers count_tokens natively in both dialects; nothing to pin, nothing to copy.
                request.UpstreamPath = ApiRoute.CountTokens.Path();
                outcome = new TranslationOutcome(true, null, false, string.Empty);
                break;
            case ApiRoute.Messages when instance.Dialect == ApiDialect.OpenAi:
                request.UpstreamPath = ApiRoute.ChatCompletions.Path();
                request.TranslateResponse = true;
                output = new PooledBuffer(body.WrittenCount + 512);
                outcome = request.BodyTape is { } tape
                    ? AnthropicToOpenAiRequest.Translate(tape, settings, output)
                    : AnthropicToOpenAiRequest.Translate(body.WrittenMemory, settings, output);
                break;
            case ApiRoute.Messages:
                request.UpstreamPath = ApiRoute.Messages.Path();
                outcome = request.BodyTape is { } passTape ? MessagesPassThrough(passTape) : MessagesPassThrough(body.WrittenSpan);
                if (outcome.Success && request.BodyTape is { } limitTape && settings.MaxOutputTokens is { } cap)
                {
                    output = ClampMaxTokens(limitTape, cap);
                }

                break;
            default:
                request.UpstreamPath = request.Route.Path();
                output = new PooledBuffer(body.WrittenCount + 512);
                outcome = request.BodyTape is { } patchTape
                    ? OpenAiRequestPatcher.Patch(patchTape, request.Route, settings, output)
                    : OpenAiRequestPatcher.Patch(body.WrittenSpan, request.Route, settings, output);
                break;
        }

        if (!outcome.Success)
        {
            output?.Dispose();
            return outcome.Error;
        }

        request.Stream = outcome.Stream;
        if (outcome.Model.Length > 0)
        {
            request.Model = outcome.Model;
        }

        if (output is not null)
        {
            request.SetUpstreamBody(output);
        }
        else
        {
            request.SendBodyUpstream();
        }

        return null;
    }

    /// <summary>
    /// As <see cref="MessagesPassThrough(ReadOnlySpan{byte})"/> from the tape the request path already built: the
    /// top-level fields are found by jumping over each value, not by reading a 100 KB body again token by token.
    /// </summary>
    private static TranslationOutcome MessagesPassThrough(Normalization.JsonTape tape)
    {
        var root = tape.Root;
        var stream = false;
        var model = string.Empty;
        if (root.ValueKind == System.Text.Json.JsonValueKind.Object)
        {
            stream = root.TryGetProperty("stream"u8, out var streamValue) && streamValue.ValueKind == System.Text.Json.JsonValueKind.True;
            model = root.TryGetProperty("model"u8, out var modelValue) && modelValue.ValueKind == System.Text.Json.JsonValueKind.String
                ? modelValue.GetString()
                : string.Empty;
        }

        return new TranslationOutcome(true, null, stream, model);
    }

    /// <summary>
    /// The pass-through body with its <c>max_tokens</c> clamped to the instance's <c>MaxOutputTokens</c> (llama-server's own
    /// /v1/messages obeys it, and takes 4096 when it is missing), or null when the body already keeps within it.
    /// Only the number is replaced: the rest goes upstream byte for byte.
    /// </summary>
    private static PooledBuffer? ClampMaxTokens(Normalization.JsonTape tape, int cap)
    {
        var root = tape.Root;
        if (root.ValueKind != System.Text.Json.JsonValueKind.Object)
        {
            return null;
        }

        var json = tape.Json;
        PooledBuffer output;
        if (root.TryGetProperty("max_tokens"u8, out var maxTokens))
        {
            // The shape check let only an integer of 1 and up, or null, through.
            if (maxTokens.ValueKind == System.Text.Json.JsonValueKind.Number && OutputTokenLimit.TryRead(maxTokens.Raw, out var requested) && requested <= cap)
            {
                return null;
            }

            var start = maxTokens.RawStart;
            output = new PooledBuffer(json.Length + 16);
            output.Write(json[..start]);
            WriteInt(output, cap);
            output.Write(json[(start + maxTokens.Raw.Length)..]);
            return output;
        }

        if (cap >= AnthropicDefaultMaxTokens)
        {
            return null;
        }

        // Missing (or null): llama-server would take its default, past the cap. Added before the object's end.
        var close = tape.EntryAt(tape.EndAt(0) - 1).Start;
        output = new PooledBuffer(json.Length + 32);
        output.Write(json[..close]);
        output.Write(tape.EndAt(0) > 2 ? ",\"max_tokens\":"u8 : "\"max_tokens\":"u8);
        WriteInt(output, cap);
        output.Write(json[close..]);
        return output;
    }

    /// <summary>What llama-server's /v1/messages generates at most when a request has no max_tokens.</summary>
    private const int AnthropicDefaultMaxTokens = 4096;

    private static void WriteInt(PooledBuffer output, long value)
    {
        var span = output.GetSpan(20);
        System.Buffers.Text.Utf8Formatter.TryFormat(value, span, out var written);
        output.Advance(written);
    }

    private static TranslationOutcome MessagesPassThrough(ReadOnlySpan<byte> body)
    {
        // Only the two top-level fields the forwarder needs; the body itself goes upstream untouched.
        var reader = new System.Text.Json.Utf8JsonReader(body);
        var stream = false;
        var model = string.Empty;
        if (reader.Read() && reader.TokenType == System.Text.Json.JsonTokenType.StartObject)
        {
            while (reader.Read() && reader.TokenType == System.Text.Json.JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    stream = reader.TokenType == System.Text.Json.JsonTokenType.True;
                }
                else if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    model = reader.TokenType == System.Text.Json.JsonTokenType.String ? reader.GetString() ?? string.Empty : string.Empty;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }

        return new TranslationOutcome(true, null, stream, model);
    }
}
