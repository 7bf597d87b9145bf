using System.Buffers;
using System.Buffers.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LlamaGateway.Pipeline;
using LlamaGateway.Translation;
using LlamaGateway.Usage;

namespace LlamaGateway.Streaming;

/// <summary>
/// Turns one OpenAI chat-completion stream (llama-server's) into Anthropic Messages stream events. Stateful: one
/// instance per response, fed every <c>data:</c> payload through <see cref="OnChunk"/> and <c>[DONE]</c> (or the
/// end of the upstream stream) through <see cref="OnDone"/>.
/// </summary>
/// <remarks>
/// <para>Blocks are strictly sequential, as Anthropic sends them: a block is stopped before the next one starts, and
/// indexes count up from 0. <c>reasoning_content</c> opens a thinking block, <c>content</c> a text block and each
/// <c>tool_calls[i]</c> a tool_use block; a kind change closes the open block, so interleaved reasoning and text
/// become several blocks.</para>
/// <para>String values are copied from the upstream JSON still escaped: a JSON escape means the same thing in the
/// event we write, so no per-token decoding or allocation is needed.</para>
/// <para>The message is finished (<c>message_delta</c> + <c>message_stop</c>) only by <see cref="OnDone"/> after a
/// <c>finish_reason</c> arrived, because llama-server sends the usage chunk after the finish chunk. A stream that
/// ends without a finish_reason was cut off and ends with an <c>error</c> event instead.</para>
/// </remarks>
internal sealed class OpenAiToAnthropicStream : IDisposable
{
    private static readonly JavaScriptEncoder Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    private readonly byte[] _model;
    private readonly byte[] _messageId;
    private readonly UpstreamUsageReader _usage;
    private readonly List<ToolCall> _toolCalls = [];

    private StreamState _state;
    private BlockKind _open;
    private int _openIndex;
    private ToolCall? _openTool;
    private int _nextIndex;
    private bool _anyToolUse;
    private FinishReason _finish;

    /// <param name="model">The model name the client asked for; Anthropic clients expect it echoed back.</param>
    /// <param name="messageId">The message id to report, or null for a new <c>msg_...</c> id.</param>
    public OpenAiToAnthropicStream(string model, string? messageId = null)
    {
        _model = JsonEncodedText.Encode(model, Encoder).EncodedUtf8Bytes.ToArray();
        _messageId = JsonEncodedText.Encode(messageId ?? AnthropicIds.NewMessageId(), Encoder).EncodedUtf8Bytes.ToArray();
        _usage = new UpstreamUsageReader(new UpstreamUsage());
    }

    private enum StreamState
    {
        NotStarted,
        Started,
        Completed,
        Failed,
    }

    private enum BlockKind
    {
        None,
        Thinking,
        Text,
        ToolUse,
    }

    private enum FinishReason
    {
        None,
        Stop,
        Length,
        ToolCalls,
        ContentFilter,
        Other,
    }

    /// <summary>What the upstream reported about token use so far (complete once the usage chunk arrived).</summary>
    public UpstreamUsage Usage => _usage.Target;

    /// <summary>
    /// Tokens the gateway had prefilled in chunks before the request (and their milliseconds): reported to the client
    /// as input tokens, not as cache reads (see <see cref="UpstreamUsage.ChunkedTokens"/>).
    /// </summary>
    public (int Tokens, double Milliseconds) ChunkedPrefill
    {
        init
        {
            _usage.Target.ChunkedTokens = value.Tokens;
            _usage.Target.ChunkedMilliseconds = value.Milliseconds;
        }
    }

    /// <summary>Whether <c>message_start</c> has been written.</summary>
    public bool Started => _state != StreamState.NotStarted;

    /// <summary>Whether the message was finished properly: a finish_reason arrived and <c>message_stop</c> was written.</summary>
    public bool Completed => _state == StreamState.Completed;

    /// <summary>Whether the stream ended with an <c>error</c> event.</summary>
    public bool Failed => _state == StreamState.Failed;

    /// <summary>The Anthropic stop_reason, once a finish_reason has arrived.</summary>
    public string? StopReason => _finish == FinishReason.None ? null : StopReasonText();

    /// <summary>How many content blocks were started.</summary>
    public int BlockCount => _nextIndex;

    /// <summary>Translates one <c>data:</c> payload of the upstream stream (not <c>[DONE]</c>).</summary>
    public void OnChunk(ReadOnlySpan<byte> chunkJson, IBufferWriter<byte> output)
    {
        if (_state is StreamState.Completed or StreamState.Failed)
        {
            return;
        }

        try
        {
            var reader = new Utf8JsonReader(chunkJson);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                OnError(AnthropicErrors.Api, "upstream sent a stream chunk that is not a JSON object", output);
                return;
            }

            var sawUsage = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("choices"u8))
                {
                    reader.Read();
                    ReadChoices(ref reader, chunkJson, output);
                }
                else if (reader.ValueTextEquals("usage"u8))
                {
                    reader.Read();
                    sawUsage |= _usage.ReadOpenAiUsage(ref reader);
                }
                else if (reader.ValueTextEquals("timings"u8))
                {
                    reader.Read();
                    sawUsage |= _usage.ReadTimings(ref reader);
                }
                else if (reader.ValueTextEquals("error"u8))
                {
                    reader.Read();
                    var start = (int)reader.TokenStartIndex;
                    var isString = reader.TokenType == JsonTokenType.String;
                    var text = isString ? reader.GetString() : null;
                    reader.Skip();
                    if (isString)
                    {
                        OnError(AnthropicErrors.Api, text!, output);
                    }
                    else
                    {
                        OnUpstreamError(chunkJson[start..(int)reader.BytesConsumed], output);
                    }

                    return;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (sawUsage)
            {
                _usage.ApplyOpenAi();
            }

            // Even a chunk with nothing to show (llama-server's first {"role":"assistant"}) starts the message, so
            // the client sees the response begin as soon as the upstream does.
            EnsureStarted(output);
        }
        catch (JsonException)
        {
            OnError(AnthropicErrors.Api, "upstream sent a malformed stream chunk", output);
        }
    }

    /// <summary>
    /// Handles <c>[DONE]</c> or the end of the upstream stream; idempotent. Finishes the message when a finish_reason
    /// was received, otherwise reports the cut-off stream as an error.
    /// </summary>
    public void OnDone(IBufferWriter<byte> output)
    {
        if (_state is StreamState.Completed or StreamState.Failed)
        {
            return;
        }

        if (_finish == FinishReason.None)
        {
            OnError(AnthropicErrors.Api, "upstream stream ended before a finish_reason", output);
            return;
        }

        EnsureStarted(output);
        CloseOpenBlock(output);

        output.Write("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""u8);
        output.Write(Utf8(StopReasonText()));
        output.Write("\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":"u8);
        WriteInt(output, Math.Max(Usage.RecomputedTokens, 0));
        output.Write(",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":"u8);
        WriteInt(output, Math.Max(Usage.CachedTokens, 0));
        output.Write(",\"output_tokens\":"u8);
        WriteInt(output, Math.Max(Usage.OutputTokens, 0));
        output.Write("}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"u8);
        _state = StreamState.Completed;
    }

    /// <summary>Ends the stream with an <c>error</c> event (ignored once the stream has finished).</summary>
    public void OnError(string anthropicType, string message, IBufferWriter<byte> output)
    {
        if (_state is StreamState.Completed or StreamState.Failed)
        {
            return;
        }

        AnthropicErrors.WriteEvent(anthropicType, message, output);
        _state = StreamState.Failed;
    }

    /// <summary>
    /// Ends the stream with the error an upstream reported, given as OpenAI error JSON: wrapped
    /// (<c>{"error":{...}}</c>) or bare, as old llama-server builds send it in an <c>error:</c> SSE field.
    /// </summary>
    public void OnUpstreamError(ReadOnlySpan<byte> errorJson, IBufferWriter<byte> output)
    {
        if (AnthropicErrors.TryReadOpenAiError(errorJson, out var type, out var message))
        {
            OnError(type, message, output);
        }
        else
        {
            OnError(AnthropicErrors.Api, "upstream reported an error", output);
        }
    }

    public void Dispose()
    {
        foreach (var call in _toolCalls)
        {
            call.Pending?.Dispose();
        }

        _toolCalls.Clear();
    }

    private void ReadChoices(ref Utf8JsonReader reader, ReadOnlySpan<byte> chunk, IBufferWriter<byte> output)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return;
        }

        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }

            var index = 0;
            var finish = FinishReason.None;
            ReadOnlySpan<byte> content = default;
            ReadOnlySpan<byte> reasoning = default;
            ReadOnlySpan<byte> toolCalls = default;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("index"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out index))
                    {
                        index = -1;
                    }
                }
                else if (reader.ValueTextEquals("finish_reason"u8))
                {
                    reader.Read();
                    finish = ParseFinishReason(ref reader);
                }
                else if (reader.ValueTextEquals("delta"u8))
                {
                    reader.Read();
                    ReadDelta(ref reader, chunk, ref content, ref reasoning, ref toolCalls);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            // Only the first choice is translated: Anthropic has no n > 1.
            if (index != 0 || _finish != FinishReason.None)
            {
                continue;
            }

            if (!reasoning.IsEmpty)
            {
                AppendDelta(BlockKind.Thinking, reasoning, output);
            }

            if (!content.IsEmpty)
            {
                AppendDelta(BlockKind.Text, content, output);
            }

            if (!toolCalls.IsEmpty)
            {
                ApplyToolCalls(toolCalls, output);
            }

            if (finish != FinishReason.None)
            {
                _finish = finish;
                EnsureStarted(output);

                // Close now rather than at [DONE]: the usage chunk may take a moment and the client can finish the
                // block (parse the tool input) meanwhile.
                CloseOpenBlock(output);
            }
        }
    }

    private static void ReadDelta(
        ref Utf8JsonReader reader,
        ReadOnlySpan<byte> chunk,
        ref ReadOnlySpan<byte> content,
        ref ReadOnlySpan<byte> reasoning,
        ref ReadOnlySpan<byte> toolCalls)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("content"u8))
            {
                reader.Read();
                content = reader.TokenType == JsonTokenType.String ? reader.ValueSpan : default;
            }
            else if (reader.ValueTextEquals("reasoning_content"u8) || reader.ValueTextEquals("reasoning"u8))
            {
                reader.Read();
                reasoning = reader.TokenType == JsonTokenType.String ? reader.ValueSpan : default;
            }
            else if (reader.ValueTextEquals("tool_calls"u8))
            {
                reader.Read();
                var start = (int)reader.TokenStartIndex;
                var isArray = reader.TokenType == JsonTokenType.StartArray;
                reader.Skip();
                toolCalls = isArray ? chunk[start..(int)reader.BytesConsumed] : default;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private static FinishReason ParseFinishReason(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            reader.Skip();
            return FinishReason.None;
        }

        if (reader.ValueTextEquals("stop"u8))
        {
            return FinishReason.Stop;
        }

        if (reader.ValueTextEquals("length"u8))
        {
            return FinishReason.Length;
        }

        if (reader.ValueTextEquals("tool_calls"u8) || reader.ValueTextEquals("function_call"u8))
        {
            return FinishReason.ToolCalls;
        }

        return reader.ValueTextEquals("content_filter"u8) ? FinishReason.ContentFilter : FinishReason.Other;
    }

    private void AppendDelta(BlockKind kind, ReadOnlySpan<byte> escapedText, IBufferWriter<byte> output)
    {
        EnsureStarted(output);
        if (_open != kind)
        {
            CloseOpenBlock(output);
            _openIndex = _nextIndex++;
            _open = kind;
            output.Write("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"u8);
            WriteInt(output, _openIndex);
            output.Write(kind == BlockKind.Thinking
                ? ",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n"u8
                : ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"u8);
        }

        WriteDeltaPrefix(output);
        output.Write(kind == BlockKind.Thinking
            ? "{\"type\":\"thinking_delta\",\"thinking\":\""u8
            : "{\"type\":\"text_delta\",\"text\":\""u8);
        output.Write(escapedText);
        output.Write("\"}}\n\n"u8);
    }

    private void ApplyToolCalls(ReadOnlySpan<byte> toolCallsArray, IBufferWriter<byte> output)
    {
        var reader = new Utf8JsonReader(toolCallsArray);
        reader.Read();
        var position = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                position++;
                continue;
            }

            var index = position;
            ReadOnlySpan<byte> id = default;
            ReadOnlySpan<byte> name = default;
            ReadOnlySpan<byte> arguments = default;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("index"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value))
                    {
                        index = value;
                    }
                }
                else if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    id = reader.TokenType == JsonTokenType.String ? reader.ValueSpan : default;
                }
                else if (reader.ValueTextEquals("function"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var isName = reader.ValueTextEquals("name"u8);
                        var isArguments = !isName && reader.ValueTextEquals("arguments"u8);
                        reader.Read();
                        if (reader.TokenType == JsonTokenType.String && (isName || isArguments))
                        {
                            if (isName)
                            {
                                name = reader.ValueSpan;
                            }
                            else
                            {
                                arguments = reader.ValueSpan;
                            }
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            ApplyToolCall(index, id, name, arguments, output);
            position++;
        }
    }

    private void ApplyToolCall(int index, ReadOnlySpan<byte> id, ReadOnlySpan<byte> name, ReadOnlySpan<byte> arguments, IBufferWriter<byte> output)
    {
        EnsureStarted(output);
        var call = FindToolCall(index);
        if (call is null)
        {
            call = new ToolCall(index);
            _toolCalls.Add(call);
        }

        if (call.Id is null && !id.IsEmpty)
        {
            call.Id = id.ToArray();
        }

        if (call.Name is null && !name.IsEmpty)
        {
            call.Name = name.ToArray();
        }

        if (call.Closed)
        {
            // A fragment for a call whose block was already stopped cannot be delivered (blocks never reopen).
            // llama-server finishes one call's arguments before it starts the next, so this does not happen there.
            return;
        }

        if (call.BlockIndex < 0)
        {
            if (call.Name is null)
            {
                // Some servers send the id first; hold arguments until the name arrives and the block can start.
                if (!arguments.IsEmpty)
                {
                    (call.Pending ??= new PooledBuffer(256)).Write(arguments);
                }

                return;
            }

            StartToolBlock(call, output);
        }

        if (!arguments.IsEmpty)
        {
            WriteArguments(arguments, output);
            call.HasArguments = true;
        }
    }

    private void StartToolBlock(ToolCall call, IBufferWriter<byte> output)
    {
        CloseOpenBlock(output);
        call.BlockIndex = _nextIndex++;
        _openIndex = call.BlockIndex;
        _open = BlockKind.ToolUse;
        _openTool = call;
        _anyToolUse = true;

        output.Write("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"u8);
        WriteInt(output, call.BlockIndex);
        output.Write(",\"content_block\":{\"type\":\"tool_use\",\"id\":\""u8);
        output.Write(call.Id is { Length: > 0 } upstreamId ? upstreamId : Utf8(AnthropicIds.NewToolUseId()));
        output.Write("\",\"name\":\""u8);
        output.Write(call.Name);
        output.Write("\",\"input\":{}}}\n\n"u8);

        if (call.Pending is { WrittenCount: > 0 } pending)
        {
            WriteArguments(pending.WrittenSpan, output);
            call.HasArguments = true;
        }

        call.Pending?.Dispose();
        call.Pending = null;
    }

    private void WriteArguments(ReadOnlySpan<byte> escapedJson, IBufferWriter<byte> output)
    {
        WriteDeltaPrefix(output);
        output.Write("{\"type\":\"input_json_delta\",\"partial_json\":\""u8);
        output.Write(escapedJson);
        output.Write("\"}}\n\n"u8);
    }

    private void CloseOpenBlock(IBufferWriter<byte> output)
    {
        switch (_open)
        {
            case BlockKind.None:
                return;
            case BlockKind.Thinking:
                // Anthropic ends every thinking block with a signature; a local model has none to give.
                WriteDeltaPrefix(output);
                output.Write("{\"type\":\"signature_delta\",\"signature\":\"\"}}\n\n"u8);
                break;
            case BlockKind.ToolUse:
                if (!_openTool!.HasArguments)
                {
                    // A call without arguments still needs input the client can parse.
                    WriteArguments("{}"u8, output);
                }

                _openTool.Closed = true;
                _openTool = null;
                break;
        }

        output.Write("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"u8);
        WriteInt(output, _openIndex);
        output.Write("}\n\n"u8);
        _open = BlockKind.None;
    }

    private void EnsureStarted(IBufferWriter<byte> output)
    {
        if (_state != StreamState.NotStarted)
        {
            return;
        }

        output.Write("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\""u8);
        output.Write(_messageId);
        output.Write("\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\""u8);
        output.Write(_model);
        output.Write("\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":0}}}\n\n"u8);
        _state = StreamState.Started;
    }

    private void WriteDeltaPrefix(IBufferWriter<byte> output)
    {
        output.Write("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"u8);
        WriteInt(output, _openIndex);
        output.Write(",\"delta\":"u8);
    }

    private ToolCall? FindToolCall(int index)
    {
        foreach (var call in _toolCalls)
        {
            if (call.Index == index)
            {
                return call;
            }
        }

        return null;
    }

    /// <summary>
    /// finish_reason mapped to stop_reason; a turn that emitted a tool call ends with tool_use even when the upstream
    /// said "stop", since Claude Code runs tools only on tool_use. Truncation stays max_tokens.
    /// </summary>
    private string StopReasonText() => _finish switch
    {
        FinishReason.Length => "max_tokens",
        FinishReason.ContentFilter => "refusal",
        _ when _finish == FinishReason.ToolCalls || _anyToolUse => "tool_use",
        _ => "end_turn",
    };

    private static byte[] Utf8(string ascii) => System.Text.Encoding.UTF8.GetBytes(ascii);

    private static void WriteInt(IBufferWriter<byte> output, int value)
    {
        var span = output.GetSpan(11);
        Utf8Formatter.TryFormat(value, span, out var written);
        output.Advance(written);
    }

    /// <summary>One upstream tool call (by its <c>index</c>) and the tool_use block it became.</summary>
    private sealed class ToolCall(int index)
    {
        public int Index { get; } = index;

        public byte[]? Id { get; set; }

        public byte[]? Name { get; set; }

        public int BlockIndex { get; set; } = -1;

        public bool HasArguments { get; set; }

        public bool Closed { get; set; }

        public PooledBuffer? Pending { get; set; }
    }
}
