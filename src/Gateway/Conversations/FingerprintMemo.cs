using LlamaGateway.Normalization;

namespace LlamaGateway.Conversations;

/// <summary>
/// A digest the fingerprint computed for one reuse-cache value (<see cref="CachedValue.Fingerprint"/>), with what
/// computing it also yielded: the role and quota flag of a message, the tools counted, the prompt characters read.
/// </summary>
/// <param name="Use">What the value was digested as; a memo for another use is recomputed.</param>
internal sealed record FingerprintMemo(FingerprintUse Use, ulong Digest, MessageRole Role, bool Quota, int Chars, int Count);

/// <summary>The ways the fingerprint digests a whole value, each with its own rules.</summary>
internal enum FingerprintUse : byte
{
    AnthropicMessage,
    ChatMessage,
    TopLevelContent,
    Tools,
}
