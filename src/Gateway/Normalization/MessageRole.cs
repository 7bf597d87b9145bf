using System.Text.Json;

namespace LlamaGateway.Normalization;

/// <summary>The roles the normalizer and fingerprinter tell apart.</summary>
internal enum MessageRole : byte
{
    Other,
    User,
    Assistant,
    System,
    Developer,
}

internal static class MessageRoles
{
    /// <summary>Classifies the current string token; <see cref="MessageRole.Other"/> for anything unknown.</summary>
    public static MessageRole Classify(ref JsonTokenizer reader) =>
        reader.TokenType != JsonTokenType.String ? MessageRole.Other
        : reader.ValueTextEquals("user"u8) ? MessageRole.User
        : reader.ValueTextEquals("assistant"u8) ? MessageRole.Assistant
        : reader.ValueTextEquals("system"u8) ? MessageRole.System
        : reader.ValueTextEquals("developer"u8) ? MessageRole.Developer
        : MessageRole.Other;
}
