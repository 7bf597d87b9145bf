using System.Buffers;

namespace LlamaGateway.Translation;

/// <summary>Translates an Anthropic Messages request body into an OpenAI chat-completions body for llama-server.</summary>
internal static class AnthropicToOpenAiRequest
{
    public static TranslationOutcome Translate(ReadOnlySpan<byte> anthropicBody, in ChatRequestSettings settings, IBufferWriter<byte> output)
        => TranslationOutcome.Fail("translation is not implemented yet");
}
