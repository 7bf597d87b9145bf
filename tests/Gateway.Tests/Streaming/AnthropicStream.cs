using System.Text;
using System.Text.Json;

namespace LlamaGateway.Tests.Streaming;

/// <summary>
/// An Anthropic Messages event stream parsed back and checked against the protocol: message_start first, every
/// block started at the next index, deltas only to the open block and of its type, every block stopped before the
/// next starts and before message_delta, a signature before a thinking block stops, message_stop last. An error
/// event ends the stream at any point. Parsing is deliberately simple (no production code), so it checks the exact
/// framing the translator writes: "event: X\ndata: {json}\n\n".
/// </summary>
internal sealed class AnthropicStream
{
    private AnthropicStream()
    {
    }

    public List<string> EventTypes { get; } = [];

    public List<Block> Blocks { get; } = [];

    public string? MessageId { get; private set; }

    public string? Model { get; private set; }

    public string? StopReason { get; private set; }

    public int? InputTokens { get; private set; }

    public int? CacheReadInputTokens { get; private set; }

    public int? OutputTokens { get; private set; }

    public bool Stopped { get; private set; }

    public string? ErrorType { get; private set; }

    public string? ErrorMessage { get; private set; }

    public string Thinking => string.Concat(Blocks.Where(b => b.Type == "thinking").Select(b => b.Text.ToString()));

    public string Text => string.Concat(Blocks.Where(b => b.Type == "text").Select(b => b.Text.ToString()));

    public List<Block> ToolUses => Blocks.Where(b => b.Type == "tool_use").ToList();

    public static AnthropicStream Parse(ReadOnlySpan<byte> utf8) => Parse(Encoding.UTF8.GetString(utf8));

    public static AnthropicStream Parse(string text)
    {
        Assert.EndsWith("\n\n", text);
        var stream = new AnthropicStream();
        foreach (var frame in text[..^2].Split("\n\n"))
        {
            var lines = frame.Split('\n');
            Assert.True(lines.Length == 2, $"event frame must be two lines: {frame}");
            Assert.StartsWith("event: ", lines[0]);
            Assert.StartsWith("data: ", lines[1]);
            using var data = JsonDocument.Parse(lines[1]["data: ".Length..]);
            var type = data.RootElement.GetProperty("type").GetString()!;
            Assert.Equal(lines[0]["event: ".Length..], type);
            stream.Apply(type, data.RootElement);
        }

        return stream;
    }

    private Block? Open => Blocks.Count > 0 && !Blocks[^1].Stopped ? Blocks[^1] : null;

    private void Apply(string type, JsonElement data)
    {
        Assert.True(ErrorType is null, $"event {type} after an error event");
        Assert.False(Stopped, $"event {type} after message_stop");
        if (type == "error")
        {
            var error = data.GetProperty("error");
            ErrorType = error.GetProperty("type").GetString();
            ErrorMessage = error.GetProperty("message").GetString();
            EventTypes.Add(type);
            return;
        }

        if (EventTypes.Count == 0)
        {
            Assert.Equal("message_start", type);
        }

        EventTypes.Add(type);
        switch (type)
        {
            case "message_start":
                Assert.Single(EventTypes);
                var message = data.GetProperty("message");
                Assert.Equal("message", message.GetProperty("type").GetString());
                Assert.Equal("assistant", message.GetProperty("role").GetString());
                Assert.Equal(0, message.GetProperty("content").GetArrayLength());
                Assert.Equal(JsonValueKind.Null, message.GetProperty("stop_reason").ValueKind);
                MessageId = message.GetProperty("id").GetString();
                Model = message.GetProperty("model").GetString();
                Assert.StartsWith("msg_", MessageId);
                break;

            case "content_block_start":
                Assert.Null(Open);
                Assert.Null(StopReason);
                Assert.Equal(Blocks.Count, data.GetProperty("index").GetInt32());
                var contentBlock = data.GetProperty("content_block");
                var block = new Block(contentBlock.GetProperty("type").GetString()!, Blocks.Count);
                switch (block.Type)
                {
                    case "text":
                        Assert.Equal(string.Empty, contentBlock.GetProperty("text").GetString());
                        break;
                    case "thinking":
                        Assert.Equal(string.Empty, contentBlock.GetProperty("thinking").GetString());
                        break;
                    case "tool_use":
                        block.Id = contentBlock.GetProperty("id").GetString();
                        block.Name = contentBlock.GetProperty("name").GetString();
                        Assert.False(string.IsNullOrEmpty(block.Id));
                        Assert.False(string.IsNullOrEmpty(block.Name));
                        Assert.Equal(JsonValueKind.Object, contentBlock.GetProperty("input").ValueKind);
                        break;
                    default:
                        Assert.Fail($"unexpected content block type {block.Type}");
                        break;
                }

                Blocks.Add(block);
                break;

            case "content_block_delta":
                var open = Open;
                Assert.NotNull(open);
                Assert.Equal(open.Index, data.GetProperty("index").GetInt32());
                var delta = data.GetProperty("delta");
                var deltaType = delta.GetProperty("type").GetString();
                switch (open.Type, deltaType)
                {
                    case ("text", "text_delta"):
                        open.Text.Append(delta.GetProperty("text").GetString());
                        break;
                    case ("thinking", "thinking_delta"):
                        Assert.False(open.SignatureSeen, "thinking_delta after signature_delta");
                        open.Text.Append(delta.GetProperty("thinking").GetString());
                        break;
                    case ("thinking", "signature_delta"):
                        Assert.Equal(JsonValueKind.String, delta.GetProperty("signature").ValueKind);
                        open.SignatureSeen = true;
                        break;
                    case ("tool_use", "input_json_delta"):
                        open.Text.Append(delta.GetProperty("partial_json").GetString());
                        break;
                    default:
                        Assert.Fail($"delta {deltaType} does not belong to a {open.Type} block");
                        break;
                }

                break;

            case "content_block_stop":
                var stopping = Open;
                Assert.NotNull(stopping);
                Assert.Equal(stopping.Index, data.GetProperty("index").GetInt32());
                if (stopping.Type == "thinking")
                {
                    Assert.True(stopping.SignatureSeen, "thinking block stopped without a signature_delta");
                }

                stopping.Stopped = true;
                break;

            case "message_delta":
                Assert.Null(Open);
                Assert.Null(StopReason);
                StopReason = data.GetProperty("delta").GetProperty("stop_reason").GetString();
                Assert.NotNull(StopReason);
                var usage = data.GetProperty("usage");
                InputTokens = usage.GetProperty("input_tokens").GetInt32();
                CacheReadInputTokens = usage.GetProperty("cache_read_input_tokens").GetInt32();
                OutputTokens = usage.GetProperty("output_tokens").GetInt32();
                break;

            case "message_stop":
                Assert.NotNull(StopReason);
                Stopped = true;
                break;

            default:
                Assert.Fail($"unexpected event type {type}");
                break;
        }
    }

    internal sealed class Block(string type, int index)
    {
        public string Type { get; } = type;

        public int Index { get; } = index;

        public string? Id { get; set; }

        public string? Name { get; set; }

        /// <summary>Text, thinking, or the concatenated partial_json of a tool_use block.</summary>
        public StringBuilder Text { get; } = new();

        public bool SignatureSeen { get; set; }

        public bool Stopped { get; set; }
    }
}
