using System.Text;
using System.Text.Json;
using LlamaGateway.Errors;
using LlamaGateway.Forwarding;

namespace LlamaGateway.Tests.Forwarding;

public sealed class UpstreamErrorBodyTests
{
    private static UpstreamErrorBody Parse(string body) => UpstreamErrorBody.Parse(Encoding.UTF8.GetBytes(body));

    [Fact]
    public void Parse_LlamaServerContextOverflow_ReadsTypeMessageAndTokenCounts()
    {
        var error = Parse("""{"error":{"code":400,"message":"request (3030 tokens) exceeds the available context size (1024 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":3030,"n_ctx":1024}}""");

        Assert.Equal(UpstreamErrorShape.OpenAi, error.Shape);
        Assert.Equal("exceed_context_size_error", error.Type);
        Assert.StartsWith("request (3030 tokens) exceeds", error.Message);
        Assert.Equal(3030, error.PromptTokens);
        Assert.Equal(1024, error.ContextTokens);
        Assert.False(error.MessageTruncated);
    }

    [Theory]
    [InlineData("""{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}""", nameof(UpstreamErrorShape.Anthropic), "invalid_request_error", "bad")]
    [InlineData("""{"error":"plain string"}""", nameof(UpstreamErrorShape.OpenAi), null, "plain string")]
    [InlineData("""{"code":500,"message":"bare","type":"server_error"}""", nameof(UpstreamErrorShape.OpenAi), "server_error", "bare")]
    [InlineData("""{"error":{"message":"first","type":"t","extra":{"nested":[1,2,{"message":"no"}]}}}""", nameof(UpstreamErrorShape.OpenAi), "t", "first")]
    [InlineData("Internal Server Error", nameof(UpstreamErrorShape.Text), null, "Internal Server Error")]
    [InlineData("[1,2]", nameof(UpstreamErrorShape.Text), null, "[1,2]")]
    [InlineData("""{"something":"else"}""", nameof(UpstreamErrorShape.Text), null, """{"something":"else"}""")]
    [InlineData("""{"error":{"message":"cut""", nameof(UpstreamErrorShape.Text), null, """{"error":{"message":"cut""")]
    [InlineData("", nameof(UpstreamErrorShape.None), null, null)]
    public void Parse_EachShape_ReadsItsMessage(string body, string shape, string? type, string? message)
    {
        var error = Parse(body);

        Assert.Equal(Enum.Parse<UpstreamErrorShape>(shape), error.Shape);
        Assert.Equal(type, error.Type);
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Parse_8MBMessage_KeepsOnlyABoundedStart(bool escaped)
    {
        // Escaped: llama-server's dump of a request's tools, quotes and newlines and all.
        var unit = escaped ? "tools = \"x\"\n\u00e9\U0001F600" : "abcdefgh";
        var huge = string.Concat(Enumerable.Repeat(unit, 8 * 1024 * 1024 / unit.Length));
        var body = JsonSerializer.SerializeToUtf8Bytes(new { error = new { code = 500, message = huge, type = "server_error" } });

        var error = UpstreamErrorBody.Parse(body);

        Assert.Equal(UpstreamErrorShape.OpenAi, error.Shape);
        Assert.True(error.MessageTruncated);
        Assert.True(error.Message!.Length <= BoundedText.MaxChars + 100, $"{error.Message.Length} characters");
        Assert.StartsWith(huge[..200], error.Message);
        Assert.Contains("truncated by the gateway", error.Message);
        Assert.Equal("server_error", error.Type);

        // No half of a surrogate pair at the cut.
        var kept = error.Message[..error.Message.IndexOf('…')];
        Assert.False(char.IsHighSurrogate(kept[^1]));
        Assert.Equal(kept, Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(kept)));
    }

    [Fact]
    public void Parse_HugeNonJsonBody_KeepsOnlyABoundedStartAtACodePointBoundary()
    {
        var body = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("日本語", 1_000_000)));

        var error = UpstreamErrorBody.Parse(body);

        Assert.Equal(UpstreamErrorShape.Text, error.Shape);
        Assert.True(error.Message!.Length < BoundedText.MaxChars + 100);
        Assert.DoesNotContain('\uFFFD', error.Message);
    }
}
