using LlamaGateway.Normalization;

namespace LlamaGateway.Translation;

/// <summary>
/// What the translator wrote for one reuse-cache value (<see cref="CachedValue.Translation"/>): the chat-completions
/// bytes of a message, of a user message's content, or of the tools array, as a run of values without a leading comma.
/// </summary>
/// <param name="Use">What the value was translated as; a memo for another use is not taken.</param>
/// <param name="Compact">The source's compactness, which decides how containers are copied.</param>
internal sealed record TranslationMemo(TranslationUse Use, bool Compact, byte[] Bytes);

/// <summary>The ways the translator turns a whole value into chat-completions bytes.</summary>
internal enum TranslationUse : byte
{
    Message,
    UserContent,
    Tools,
}
