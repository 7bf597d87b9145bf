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
                break;
            default:
                request.UpstreamPath = request.Route.Path();
                output = new PooledBuffer(body.WrittenCount + 512);
                outcome = OpenAiRequestPatcher.Patch(body.WrittenSpan, settings, output);
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
