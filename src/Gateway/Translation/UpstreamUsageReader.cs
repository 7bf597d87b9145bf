using LlamaGateway.Usage;

namespace LlamaGateway.Translation;

// Placeholder replaced by the translation branch.
internal static class UpstreamUsageReader
{
    public static void ReadOpenAi(ReadOnlySpan<byte> json, UpstreamUsage usage) { }
    public static void ReadAnthropicEvent(ReadOnlySpan<byte> json, UpstreamUsage usage) { }
    public static void ReadAnthropicMessage(ReadOnlySpan<byte> json, UpstreamUsage usage) { }
}
