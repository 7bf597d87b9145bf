using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.Streaming;

namespace LlamaGateway.Tests.Streaming;

public sealed class OpenAiToAnthropicStreamTests
{
    private const string Model = "claude-opus-5-5";

    public static TheoryData<string> Streams => LlamaServerFixtures.Streams;

    [Theory]
    [MemberData(nameof(Streams))]
    public async Task OnChunk_RecordedStream_EventsAreWellFormedAndCarryTheUpstreamContent(string fixture)
    {
        var sse = LlamaServerFixtures.Read(fixture);
        var expected = OpenAiStreamSummary.FromSse(sse);

        var (output, translator) = await TranslateAsync(sse, chunkSize: int.MaxValue);
        var result = AnthropicStream.Parse(output);

        Assert.Equal(Model, result.Model);
        Assert.Equal(expected.Reasoning, result.Thinking);
        Assert.Equal(expected.Content, result.Text);
        if (expected.ErrorMessage is not null)
        {
            Assert.NotNull(result.ErrorType);
            Assert.Contains(expected.ErrorMessage, result.ErrorMessage);
            Assert.True(translator.Failed);
            Assert.False(translator.Completed);
            return;
        }

        Assert.True(result.Stopped);
        Assert.True(translator.Completed);
        Assert.All(result.Blocks, b => Assert.True(b.Stopped));
        Assert.Equal(expected.ToolCalls.Count, result.ToolUses.Count);
        for (var i = 0; i < expected.ToolCalls.Count; i++)
        {
            Assert.Equal(expected.ToolCalls[i].Id, result.ToolUses[i].Id);
            Assert.Equal(expected.ToolCalls[i].Name, result.ToolUses[i].Name);
            Assert.Equal(expected.ToolCalls[i].Arguments, result.ToolUses[i].Text.ToString());
        }

        Assert.Equal(ExpectedStopReason(expected), result.StopReason);
    }

    [Fact]
    public async Task OnChunk_ReasoningThenText_ThinkingBlockWithSignatureThenTextBlock()
    {
        var (output, _) = await TranslateAsync(LlamaServerFixtures.Read("chat-stream-reasoning-text.sse"), int.MaxValue);
        var result = AnthropicStream.Parse(output);

        Assert.Equal(["thinking", "text"], result.Blocks.Select(b => b.Type));
        Assert.True(result.Blocks[0].SignatureSeen);
        Assert.Equal("end_turn", result.StopReason);
    }

    [Fact]
    public async Task OnChunk_SingleToolCallInFragments_InputJsonParsesToTheArguments()
    {
        var sse = LlamaServerFixtures.Read("chat-stream-tool-call-single.sse");
        var expected = OpenAiStreamSummary.FromSse(sse);
        var (output, _) = await TranslateAsync(sse, int.MaxValue);
        var result = AnthropicStream.Parse(output);

        var toolUse = Assert.Single(result.ToolUses);
        Assert.True(CountDeltas(output, "input_json_delta") > 3, "arguments should arrive as several fragments");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected.ToolCalls[0].Arguments), JsonNode.Parse(toolUse.Text.ToString())));
        Assert.Equal("tool_use", result.StopReason);
    }

    [Fact]
    public async Task OnChunk_TwoParallelToolCalls_ConsecutiveToolUseBlocks()
    {
        var sse = LlamaServerFixtures.Read("chat-stream-tool-calls-parallel.sse");
        var expected = OpenAiStreamSummary.FromSse(sse);
        var (output, _) = await TranslateAsync(sse, int.MaxValue);
        var result = AnthropicStream.Parse(output);

        Assert.Equal(2, expected.ToolCalls.Count);
        Assert.Equal([0, 1], result.ToolUses.Select(b => b.Index));
        for (var i = 0; i < 2; i++)
        {
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected.ToolCalls[i].Arguments), JsonNode.Parse(result.ToolUses[i].Text.ToString())));
        }
    }

    [Fact]
    public async Task OnChunk_ReasoningTextAndTools_BlocksInOrderWithIncreasingIndexes()
    {
        var (output, _) = await TranslateAsync(LlamaServerFixtures.Read("chat-stream-reasoning-text-tools.sse"), int.MaxValue);
        var result = AnthropicStream.Parse(output);

        Assert.Equal(["thinking", "text", "tool_use", "tool_use"], result.Blocks.Select(b => b.Type));
        Assert.Equal([0, 1, 2, 3], result.Blocks.Select(b => b.Index));
        Assert.Equal("tool_use", result.StopReason);
    }

    [Theory]
    [InlineData("chat-stream-text-stop.sse", "stop", "end_turn")]
    [InlineData("chat-stream-text-length.sse", "length", "max_tokens")]
    [InlineData("chat-stream-tool-call-single.sse", "tool_calls", "tool_use")]
    [InlineData("chat-stream-tool-call-length.sse", "length", "max_tokens")]
    public async Task OnDone_FinishReason_MapsToStopReason(string fixture, string finishReason, string stopReason)
    {
        var sse = LlamaServerFixtures.Read(fixture);
        Assert.Equal(finishReason, OpenAiStreamSummary.FromSse(sse).FinishReason);

        var (output, translator) = await TranslateAsync(sse, int.MaxValue);

        Assert.Equal(stopReason, AnthropicStream.Parse(output).StopReason);
        Assert.Equal(stopReason, translator.StopReason);
    }

    [Theory]
    [InlineData("chat-stream-text-stop-cached.sse")]
    [InlineData("chat-stream-reasoning-text-tools.sse")]
    [InlineData("chat-stream-text-stop.sse")]
    public async Task OnDone_FinalChunkUsageAndTimings_ReportedInUsageAndMessageDelta(string fixture)
    {
        var sse = LlamaServerFixtures.Read(fixture);
        var expected = OpenAiStreamSummary.FromSse(sse);
        var (output, translator) = await TranslateAsync(sse, int.MaxValue);
        var result = AnthropicStream.Parse(output);

        Assert.Equal(expected.TimingsPromptN, result.InputTokens);
        Assert.Equal(expected.TimingsCacheN, result.CacheReadInputTokens);
        Assert.Equal(expected.CompletionTokens, result.OutputTokens);
        Assert.Equal(expected.TimingsPromptN + expected.TimingsCacheN, translator.Usage.PromptTokens);
        Assert.Equal(expected.PromptTokens, translator.Usage.PromptTokens);
        Assert.Equal(expected.CachedTokens, translator.Usage.CachedTokens);
        Assert.Equal(expected.TimingsPromptN, translator.Usage.RecomputedTokens);
        Assert.Equal(expected.CompletionTokens, translator.Usage.OutputTokens);
        Assert.Equal(expected.TimingsPromptMs, translator.Usage.PromptMilliseconds);
    }

    [Theory]
    [InlineData("chat-stream-error-midstream.sse", "api_error")]
    [InlineData("chat-stream-error-field-legacy.sse", "overloaded_error")]
    public async Task OnChunk_ErrorInsideStream_EndsWithErrorEvent(string fixture, string errorType)
    {
        var sse = LlamaServerFixtures.Read(fixture);
        var expected = OpenAiStreamSummary.FromSse(sse);
        var (output, translator) = await TranslateAsync(sse, int.MaxValue);
        var result = AnthropicStream.Parse(output);

        Assert.Equal("error", result.EventTypes[^1]);
        Assert.Equal(errorType, result.ErrorType);
        Assert.Equal(expected.ErrorMessage, result.ErrorMessage);
        Assert.Equal(expected.Content, result.Text);
        Assert.True(translator.Failed);
        Assert.False(translator.Completed);
    }

    [Theory]
    [MemberData(nameof(Streams))]
    public async Task OnChunk_ReadInOneByteChunks_SameOutputAsWholeReads(string fixture)
    {
        var sse = LlamaServerFixtures.Read(fixture);
        var (whole, _) = await TranslateAsync(sse, int.MaxValue);
        var (bytewise, _) = await TranslateAsync(sse, 1);

        Assert.Equal(Encoding.UTF8.GetString(whole), Encoding.UTF8.GetString(bytewise));
    }

    [Fact]
    public async Task OnDone_CalledAgain_WritesNothingMore()
    {
        var (output, translator) = await TranslateAsync(LlamaServerFixtures.Read("chat-stream-text-stop.sse"), int.MaxValue);
        var more = new ArrayBufferWriter<byte>();

        translator.OnDone(more);
        translator.OnError("api_error", "late", more);
        translator.OnChunk("""{"choices":[{"index":0,"delta":{"content":"late"}}]}"""u8, more);

        Assert.Equal(0, more.WrittenCount);
        Assert.True(AnthropicStream.Parse(output).Stopped);
    }

    [Fact]
    public void OnDone_WithoutFinishReason_WritesErrorInsteadOfMessageStop()
    {
        var output = new ArrayBufferWriter<byte>();
        using var translator = new OpenAiToAnthropicStream(Model);

        translator.OnChunk("""{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"""u8, output);
        translator.OnDone(output);
        var result = AnthropicStream.Parse(output.WrittenSpan);

        Assert.Equal("api_error", result.ErrorType);
        Assert.False(result.Stopped);
        Assert.False(translator.Completed);
        Assert.True(translator.Failed);
    }

    [Fact]
    public void OnChunk_StopAfterToolCall_StopReasonIsToolUse()
    {
        var output = new ArrayBufferWriter<byte>();
        using var translator = new OpenAiToAnthropicStream(Model);

        translator.OnChunk("""{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"Read","arguments":"{\"a\":1}"}}]}}]}"""u8, output);
        translator.OnChunk("""{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"""u8, output);
        translator.OnDone(output);

        Assert.Equal("tool_use", AnthropicStream.Parse(output.WrittenSpan).StopReason);
    }

    [Fact]
    public void OnChunk_ToolNameAfterArguments_ArgumentsHeldUntilTheBlockStarts()
    {
        var output = new ArrayBufferWriter<byte>();
        using var translator = new OpenAiToAnthropicStream(Model);

        translator.OnChunk("""{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"arguments":"{\"pa"}}]}}]}"""u8, output);
        translator.OnChunk("""{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"Read","arguments":"th\":\"x\"}"}}]}}]}"""u8, output);
        translator.OnChunk("""{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"""u8, output);
        translator.OnDone(output);
        var toolUse = Assert.Single(AnthropicStream.Parse(output.WrittenSpan).ToolUses);

        Assert.Equal("c1", toolUse.Id);
        Assert.Equal("Read", toolUse.Name);
        Assert.Equal("""{"path":"x"}""", toolUse.Text.ToString());
    }

    [Fact]
    public void OnChunk_ToolCallWithoutArguments_InputIsEmptyObject()
    {
        var output = new ArrayBufferWriter<byte>();
        using var translator = new OpenAiToAnthropicStream(Model);

        translator.OnChunk("""{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"type":"function","function":{"name":"ListAgents","arguments":""}}]}}]}"""u8, output);
        translator.OnChunk("""{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"""u8, output);
        translator.OnDone(output);
        var toolUse = Assert.Single(AnthropicStream.Parse(output.WrittenSpan).ToolUses);

        Assert.Equal("{}", toolUse.Text.ToString());
        Assert.StartsWith("toolu_", toolUse.Id);
    }

    [Fact]
    public void OnChunk_KindChangesBackAndForth_EachRunIsANewBlock()
    {
        var output = new ArrayBufferWriter<byte>();
        using var translator = new OpenAiToAnthropicStream(Model);

        translator.OnChunk("""{"choices":[{"index":0,"delta":{"content":"a"}}]}"""u8, output);
        translator.OnChunk("""{"choices":[{"index":0,"delta":{"reasoning_content":"b"}}]}"""u8, output);
        translator.OnChunk("""{"choices":[{"index":0,"delta":{"reasoning_content":"c"}}]}"""u8, output);
        translator.OnChunk("""{"choices":[{"index":0,"delta":{"content":"d"}}]}"""u8, output);
        translator.OnChunk("""{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"""u8, output);
        translator.OnDone(output);
        var result = AnthropicStream.Parse(output.WrittenSpan);

        Assert.Equal(["text", "thinking", "text"], result.Blocks.Select(b => b.Type));
        Assert.Equal(["a", "bc", "d"], result.Blocks.Select(b => b.Text.ToString()));
        Assert.Equal(3, translator.BlockCount);
    }

    [Fact]
    public void OnChunk_EscapesAndNonAsciiText_ArriveUnchanged()
    {
        string[] pieces = ["quote \" backslash \\ ", "newline\n\ttab ", "é ✓ 😀 ", "</script> \u2028 \u0001"];
        var output = new ArrayBufferWriter<byte>();
        using var translator = new OpenAiToAnthropicStream(Model);

        foreach (var piece in pieces)
        {
            var chunk = new JsonObject
            {
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = new JsonObject { ["content"] = piece } }),
            };
            translator.OnChunk(Encoding.UTF8.GetBytes(chunk.ToJsonString()), output);
        }

        translator.OnChunk("""{"choices":[{"index":0,"delta":{"content":"\u00e9\ud83d\ude00"},"finish_reason":"stop"}]}"""u8, output);
        translator.OnDone(output);

        Assert.Equal(string.Concat(pieces) + "é😀", AnthropicStream.Parse(output.WrittenSpan).Text);
    }

    [Fact]
    public void OnChunk_MalformedJson_WritesErrorEvent()
    {
        var output = new ArrayBufferWriter<byte>();
        using var translator = new OpenAiToAnthropicStream(Model);

        translator.OnChunk("""{"choices":[{"index":0,"delta":{"content":"ok"}}]}"""u8, output);
        translator.OnChunk("""{"choices":[{"index":0,"delta":{"content":"trunc"""u8, output);

        var result = AnthropicStream.Parse(output.WrittenSpan);
        Assert.Equal("api_error", result.ErrorType);
        Assert.Equal("ok", result.Text);
    }

    [Fact]
    public void OnChunk_ModelWithCharactersToEscape_EchoedInMessageStart()
    {
        const string model = "local/\"qwen\"-✓";
        var output = new ArrayBufferWriter<byte>();
        using var translator = new OpenAiToAnthropicStream(model, "msg_fixed");

        translator.OnChunk("""{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}"""u8, output);
        var result = AnthropicStream.Parse(output.WrittenSpan);

        Assert.Equal(model, result.Model);
        Assert.Equal("msg_fixed", result.MessageId);
        Assert.True(translator.Started);
        Assert.Empty(result.Blocks);
    }

    private static string ExpectedStopReason(OpenAiStreamSummary upstream) => upstream.FinishReason switch
    {
        "length" => "max_tokens",
        "tool_calls" => "tool_use",
        "stop" when upstream.ToolCalls.Count > 0 => "tool_use",
        "stop" => "end_turn",
        var other => throw new InvalidOperationException($"fixture has finish_reason {other}"),
    };

    private static int CountDeltas(byte[] output, string deltaType) =>
        Encoding.UTF8.GetString(output).Split($"\"type\":\"{deltaType}\"").Length - 1;

    /// <summary>Drives the translator the way the gateway does: SSE events in, [DONE] or end of stream to finish.</summary>
    private static async Task<(byte[] Output, OpenAiToAnthropicStream Translator)> TranslateAsync(byte[] sse, int chunkSize)
    {
        var output = new ArrayBufferWriter<byte>();
        var translator = new OpenAiToAnthropicStream(Model, "msg_test");
        using var reader = new SseEventReader(ChunkedReadStream.InChunksOf(sse, chunkSize));
        while (await reader.ReadNextAsync())
        {
            if (reader.EventName.SequenceEqual("error"u8))
            {
                translator.OnUpstreamError(reader.Data, output);
            }
            else if (reader.Data.SequenceEqual("[DONE]"u8))
            {
                translator.OnDone(output);
            }
            else
            {
                translator.OnChunk(reader.Data, output);
            }
        }

        translator.OnDone(output);
        return (output.WrittenSpan.ToArray(), translator);
    }
}
