using System.Text;
using System.Text.Json.Nodes;
using LlamaGateway.Tests.Streaming;
using LlamaGateway.Translation;
using LlamaGateway.Usage;

namespace LlamaGateway.Tests.Translation;

public sealed class UpstreamUsageReaderTests
{
    [Fact]
    public void ReadOpenAi_FinalChunkWithUsageAndTimings_TimingsDecideTheSplit()
    {
        var lastChunk = Encoding.UTF8.GetString(LlamaServerFixtures.Read("chat-stream-text-stop-cached.sse"))
            .Split("\n\n").Last(l => l.Contains("\"usage\"", StringComparison.Ordinal))["data: ".Length..];
        var upstream = JsonNode.Parse(lastChunk)!;
        var usage = new UpstreamUsage();

        Assert.True(new UpstreamUsageReader(usage).ReadOpenAi(Encoding.UTF8.GetBytes(lastChunk)));

        var timings = upstream["timings"]!;
        Assert.True(timings["cache_n"]!.GetValue<int>() > 0, "fixture should show a cache hit");
        Assert.Equal(timings["prompt_n"]!.GetValue<int>() + timings["cache_n"]!.GetValue<int>(), usage.PromptTokens);
        Assert.Equal(timings["cache_n"]!.GetValue<int>(), usage.CachedTokens);
        Assert.Equal(timings["prompt_n"]!.GetValue<int>(), usage.RecomputedTokens);
        Assert.Equal(upstream["usage"]!["completion_tokens"]!.GetValue<int>(), usage.OutputTokens);
        Assert.Equal(timings["prompt_ms"]!.GetValue<double>(), usage.PromptMilliseconds);
    }

    [Fact]
    public void ReadOpenAi_UsageWithoutTimings_UsageDecides()
    {
        var usage = new UpstreamUsage();

        new UpstreamUsageReader(usage).ReadOpenAi("""{"usage":{"prompt_tokens":100,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":60}}}"""u8);

        Assert.Equal(100, usage.PromptTokens);
        Assert.Equal(60, usage.CachedTokens);
        Assert.Equal(40, usage.RecomputedTokens);
        Assert.Equal(7, usage.OutputTokens);
        Assert.Equal(-1, usage.PromptMilliseconds);
    }

    [Fact]
    public void ReadOpenAi_NoUsage_NothingChanges()
    {
        var usage = new UpstreamUsage();

        Assert.False(new UpstreamUsageReader(usage).ReadOpenAi("""{"choices":[{"delta":{"content":"x"}}]}"""u8));
        Assert.False(usage.HasAny);
    }

    [Fact]
    public void ReadAnthropic_LlamaServerStyleEvents_StartGivesInputDeltaGivesOutput()
    {
        var usage = new UpstreamUsage();
        var reader = new UpstreamUsageReader(usage);

        reader.ReadAnthropic("""{"type":"message_start","message":{"id":"x","usage":{"cache_read_input_tokens":900,"input_tokens":25,"output_tokens":0}}}"""u8);
        reader.ReadAnthropic("""{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}}"""u8);

        Assert.Equal(925, usage.PromptTokens);
        Assert.Equal(900, usage.CachedTokens);
        Assert.Equal(25, usage.RecomputedTokens);
        Assert.Equal(42, usage.OutputTokens);
    }

    [Fact]
    public void ReadAnthropic_CumulativeDeltaAndWholeMessage_LatestValuesWin()
    {
        var usage = new UpstreamUsage();
        var reader = new UpstreamUsageReader(usage);

        reader.ReadAnthropic("""{"type":"message_start","message":{"usage":{"input_tokens":1,"output_tokens":1}}}"""u8);
        reader.ReadAnthropic("""{"type":"message_delta","usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":100,"output_tokens":3}}"""u8);

        Assert.Equal(115, usage.PromptTokens);
        Assert.Equal(100, usage.CachedTokens);
        Assert.Equal(3, usage.OutputTokens);

        var whole = new UpstreamUsage();
        new UpstreamUsageReader(whole).ReadAnthropic("""{"type":"message","content":[],"usage":{"input_tokens":8,"output_tokens":2}}"""u8);
        Assert.Equal(8, whole.PromptTokens);
        Assert.Equal(-1, whole.CachedTokens);
        Assert.Equal(2, whole.OutputTokens);
    }
}
