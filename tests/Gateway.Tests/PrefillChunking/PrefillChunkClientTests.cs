using System.Text;
using LlamaGateway.PrefillChunking;

namespace LlamaGateway.Tests.PrefillChunking;

public sealed class PrefillChunkClientTests
{
    [Fact]
    public void FindPrompt_ApplyTemplateAnswer_GivesTheEscapedBytesBetweenTheQuotes()
    {
        var json = Encoding.UTF8.GetBytes("""{"other":[1,{"prompt":"no"}],"prompt":"<|im_start|>system\nYou \"are\" here<|im_end|>\n"}""");

        Assert.True(PrefillChunkClient.FindPrompt(json, out var start, out var length));
        Assert.Equal("<|im_start|>system\\nYou \\\"are\\\" here<|im_end|>\\n", Encoding.UTF8.GetString(json, start, length));
    }

    [Theory]
    [InlineData("""{"prompt":7}""")]
    [InlineData("""{"error":{"message":"no"}}""")]
    [InlineData("""[ "prompt" ]""")]
    [InlineData("""{"prompt":"unterminated""")]
    [InlineData("")]
    public void FindPrompt_NoPromptString_False(string json) =>
        Assert.False(PrefillChunkClient.FindPrompt(Encoding.UTF8.GetBytes(json), out _, out _));

    [Fact]
    public void ReadTokens_TokenizeAnswer_GivesTheIdsInOrder()
    {
        var json = Encoding.UTF8.GetBytes("""{"other":[9,9],"tokens":[151644,8948,198,0,2610]}""");

        using var tokens = PrefillChunkClient.ReadTokens(json, maxTokens: 100);

        Assert.NotNull(tokens);
        Assert.Equal([151644, 8948, 198, 0, 2610], tokens.Tokens.ToArray());
    }

    [Fact]
    public void ReadTokens_MoreThanTheArrayFirstRented_AllKept()
    {
        var ids = Enumerable.Range(0, 5_000).ToArray();
        var json = Encoding.UTF8.GetBytes($$"""{"tokens":[{{string.Join(",", ids)}}]}""");

        using var tokens = PrefillChunkClient.ReadTokens(json, maxTokens: 5_000);

        Assert.Equal(ids, tokens!.Tokens.ToArray());
    }

    [Theory]
    [InlineData("""{"tokens":[{"id":1,"piece":"a"}]}""")]
    [InlineData("""{"tokens":[1,-2]}""")]
    [InlineData("""{"tokens":[1,2.5]}""")]
    [InlineData("""{"tokens":"1 2"}""")]
    [InlineData("""{"tokens":[1,2,3,4]}""")]
    [InlineData("""{"error":{"message":"no"}}""")]
    [InlineData("""{"tokens":[1,""")]
    [InlineData("")]
    public void ReadTokens_NotPlainIdsOrTooMany_Null(string json) =>
        Assert.Null(PrefillChunkClient.ReadTokens(Encoding.UTF8.GetBytes(json), maxTokens: 3));

    [Fact]
    public void ReadTimings_CompletionAnswer_ReadsComputedCachedAndMilliseconds()
    {
        var json = Encoding.UTF8.GetBytes("""{"content":"","tokens":[],"id_slot":1,"stop":true,"generation_settings":{"n_predict":0,"timings":{"prompt_n":-9}},"timings":{"cache_n":1024,"prompt_n":512,"prompt_ms":733.5,"prompt_per_token_ms":1.4,"predicted_n":0}}""");

        Assert.True(PrefillChunkClient.ReadTimings(json, out var computed, out var cached, out var milliseconds));
        Assert.Equal(512, computed);
        Assert.Equal(1024, cached);
        Assert.Equal(733.5, milliseconds);
    }

    [Theory]
    [InlineData("""{"content":""}""")]
    [InlineData("""{"timings":{"prompt_n":5}}""")]
    [InlineData("""{"timings":"none"}""")]
    [InlineData("not json")]
    public void ReadTimings_WithoutCounts_False(string json) =>
        Assert.False(PrefillChunkClient.ReadTimings(Encoding.UTF8.GetBytes(json), out _, out _, out _));
}
