using System.Text.Json;
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
        var pass = new FingerprintPass(normalizedBody, route);
        try
        {
            return pass.Run();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            // Malformed JSON, or strings that do not decode (invalid UTF-8, lone surrogates).
            return null;
        }
        finally
        {
            pass.Dispose();
        }
    }
}
