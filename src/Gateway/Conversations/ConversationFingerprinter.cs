using System.Text.Json;
using System.Text.Unicode;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Conversations;

/// <summary>Computes a <see cref="ConversationFingerprint"/> from a normalized body in one forward pass.</summary>
internal static class ConversationFingerprinter
{
    /// <summary>
    /// Digests the canonical content of <paramref name="normalizedBody"/> (see <see cref="ConversationFingerprint"/>).
    /// Null only when the body cannot be read as a request: not JSON, not an object, or messages not an array.
    /// </summary>
    public static ConversationFingerprint? Compute(ReadOnlySpan<byte> normalizedBody, ApiRoute route)
    {
        // The tokenizer leaves UTF-8 checking to its callers; one vectorized pass costs about a microsecond per 100 KB.
        if (!Utf8.IsValid(normalizedBody))
        {
            return null;
        }

        var copy = normalizedBody.ToArray();
        JsonTape tape;
        try
        {
            tape = JsonTape.Parse(copy, RequestNormalizer.MaxDepth);
        }
        catch (JsonException)
        {
            // Malformed JSON (the tokenizer also rejects escaped lone surrogates).
            return null;
        }

        using (tape)
        {
            return Compute(tape, route);
        }
    }

    /// <summary>
    /// As <see cref="Compute(ReadOnlySpan{byte}, ApiRoute)"/> from the tape of a body already checked for UTF-8 (the
    /// normalizer did), so nothing is scanned again: the request path uses this one.
    /// </summary>
    public static ConversationFingerprint? Compute(JsonTape normalizedBody, ApiRoute route)
    {
        var pass = new FingerprintPass(normalizedBody, route);
        try
        {
            return pass.Run();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not expected from valid JSON; a request without a fingerprint is routed without affinity, not failed.
            return null;
        }
        finally
        {
            pass.Dispose();
        }
    }
}
