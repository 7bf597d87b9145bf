using LlamaGateway.Pipeline;

namespace LlamaGateway.Conversations;

/// <summary>Computes a <see cref="ConversationFingerprint"/> from a normalized body in one forward pass.</summary>
internal static class ConversationFingerprinter
{
    public static ConversationFingerprint? Compute(ReadOnlySpan<byte> normalizedBody, ApiRoute route)
    {
        // Placeholder until the canonical hash chain lands.
        return null;
    }
}
