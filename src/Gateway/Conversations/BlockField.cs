using System.Text.Json;
using LlamaGateway.Normalization;

namespace LlamaGateway.Conversations;

/// <summary>The content-block fields the fingerprint tells apart; everything else is <see cref="Other"/>.</summary>
internal enum BlockField
{
    Text,
    Id,
    Name,
    Input,
    ToolUseId,
    Content,
    IsError,
    Thinking,
    Data,
    Source,
    ImageUrl,
    CacheControl,
    Citations,
    Other,
}

internal static class BlockFields
{
    /// <summary>Classifies the property name at the reader (type is handled before this).</summary>
    public static BlockField Classify(ref JsonTokenizer reader) =>
        reader.ValueTextEquals("text"u8) ? BlockField.Text
        : reader.ValueTextEquals("cache_control"u8) ? BlockField.CacheControl
        : reader.ValueTextEquals("id"u8) ? BlockField.Id
        : reader.ValueTextEquals("name"u8) ? BlockField.Name
        : reader.ValueTextEquals("input"u8) ? BlockField.Input
        : reader.ValueTextEquals("tool_use_id"u8) ? BlockField.ToolUseId
        : reader.ValueTextEquals("content"u8) ? BlockField.Content
        : reader.ValueTextEquals("is_error"u8) ? BlockField.IsError
        : reader.ValueTextEquals("thinking"u8) ? BlockField.Thinking
        : reader.ValueTextEquals("data"u8) ? BlockField.Data
        : reader.ValueTextEquals("source"u8) ? BlockField.Source
        : reader.ValueTextEquals("image_url"u8) ? BlockField.ImageUrl
        : reader.ValueTextEquals("citations"u8) ? BlockField.Citations
        : BlockField.Other;
}
