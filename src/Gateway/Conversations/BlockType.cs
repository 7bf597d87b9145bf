using System.Text.Json;
using LlamaGateway.Normalization;

namespace LlamaGateway.Conversations;

/// <summary>Content-block types whose prompt-relevant fields are known (Anthropic blocks and OpenAI content parts).</summary>
internal enum BlockType
{
    Unknown,
    Text,
    ToolUse,
    ToolResult,
    Thinking,
    RedactedThinking,
    Image,
    Document,
    ImageUrl,
}

internal static class BlockTypes
{
    /// <summary>Classifies the string token at the reader.</summary>
    public static BlockType Classify(ref JsonTokenizer reader) =>
        reader.ValueTextEquals("text"u8) ? BlockType.Text
        : reader.ValueTextEquals("tool_use"u8) || reader.ValueTextEquals("server_tool_use"u8) ? BlockType.ToolUse
        : reader.ValueTextEquals("tool_result"u8) ? BlockType.ToolResult
        : reader.ValueTextEquals("thinking"u8) ? BlockType.Thinking
        : reader.ValueTextEquals("redacted_thinking"u8) ? BlockType.RedactedThinking
        : reader.ValueTextEquals("image"u8) ? BlockType.Image
        : reader.ValueTextEquals("document"u8) ? BlockType.Document
        : reader.ValueTextEquals("image_url"u8) ? BlockType.ImageUrl
        : BlockType.Unknown;
}
