using LlamaGateway.Conversations;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Routing;

/// <summary>
/// Tells a main conversation turn from a side request. Claude Code's side requests share little with the main
/// prefix (a quota probe of one token, titles on the small/fast "haiku" model with a short system prompt and no
/// tools), so running them on a conversation's slot would evict its cache for nothing.
/// </summary>
internal static class RequestClassifier
{
    /// <summary>Requests below this many canonical characters with no tools are side requests.</summary>
    public const int ShortPromptChars = 4_000;

    public static RequestKind Classify(ApiRoute route, ConversationFingerprint? fingerprint)
    {
        if (route == ApiRoute.CountTokens)
        {
            return RequestKind.Slotless;
        }

        if (fingerprint is null)
        {
            return RequestKind.Side;
        }

        if (fingerprint.MaxTokens == 1 || fingerprint.LastUserMessageIsQuotaProbe)
        {
            return RequestKind.Side;
        }

        if (fingerprint.ToolCount == 0 && (fingerprint.PromptChars < ShortPromptChars || fingerprint.Model.Contains("haiku", StringComparison.OrdinalIgnoreCase)))
        {
            return RequestKind.Side;
        }

        return RequestKind.Conversation;
    }
}
