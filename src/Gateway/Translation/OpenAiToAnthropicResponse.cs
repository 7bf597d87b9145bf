using System.Buffers;
using LlamaGateway.Usage;

namespace LlamaGateway.Translation;

// Placeholder replaced by the translation branch.
internal static class OpenAiToAnthropicResponse
{
    public static bool Translate(ReadOnlySpan<byte> json, string model, IBufferWriter<byte> output, UpstreamUsage usage) => false;
}
