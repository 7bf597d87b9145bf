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
    public static BlockField Classify(ref JsonTokenizer reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return Classify(reader.ValueSpan);
        }

        // An escaped name is rare; longer than 6 bytes per character of the longest known name, it is none of them.
        Span<byte> name = stackalloc byte[80];
        return reader.ValueSpan.Length > name.Length ? BlockField.Other : Classify(name[..reader.CopyString(name)]);
    }

    private static BlockField Classify(ReadOnlySpan<byte> name) => name.Length switch
    {
        2 when name.SequenceEqual("id"u8) => BlockField.Id,
        4 when name.SequenceEqual("text"u8) => BlockField.Text,
        4 when name.SequenceEqual("name"u8) => BlockField.Name,
        4 when name.SequenceEqual("data"u8) => BlockField.Data,
        5 when name.SequenceEqual("input"u8) => BlockField.Input,
        6 when name.SequenceEqual("source"u8) => BlockField.Source,
        7 when name.SequenceEqual("content"u8) => BlockField.Content,
        8 when name.SequenceEqual("is_error"u8) => BlockField.IsError,
        8 when name.SequenceEqual("thinking"u8) => BlockField.Thinking,
        9 when name.SequenceEqual("image_url"u8) => BlockField.ImageUrl,
        9 when name.SequenceEqual("citations"u8) => BlockField.Citations,
        11 when name.SequenceEqual("tool_use_id"u8) => BlockField.ToolUseId,
        13 when name.SequenceEqual("cache_control"u8) => BlockField.CacheControl,
        _ => BlockField.Other,
    };
}
