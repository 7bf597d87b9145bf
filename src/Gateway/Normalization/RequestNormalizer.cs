using System.Buffers;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Normalization;

/// <summary>
/// Rewrites a request body so that cache-breaking noise (the billing line, misplaced system messages) is gone and
/// nothing else changes. Never throws for bad input: it reports it in the outcome.
/// </summary>
internal static class RequestNormalizer
{
    public static NormalizationOutcome Normalize(ReadOnlySpan<byte> body, ApiRoute route, in NormalizationSettings settings, IBufferWriter<byte> output)
    {
        // Placeholder until the streaming rewrite lands: copy through unchanged.
        output.Write(body);
        return new NormalizationOutcome(true, null, 0, 0);
    }
}
