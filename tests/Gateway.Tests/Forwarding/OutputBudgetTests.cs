using System.Text;
using LlamaGateway.Forwarding;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Tests.Forwarding;

public sealed class OutputBudgetTests
{
    private static OutputBudget? Budget(string body, ApiRoute route, int? cap, bool anthropicEvents = false)
    {
        using var tape = JsonTape.Parse(Encoding.UTF8.GetBytes(body), 64);
        return OutputBudget.For(tape, route, cap, anthropicEvents);
    }

    [Theory]
    [InlineData("""{"max_tokens":128000}""", 1000, 1000)]
    [InlineData("""{"max_tokens":50}""", 1000, 50)]
    [InlineData("""{"max_tokens":50}""", null, 50)]
    [InlineData("""{"messages":[]}""", 1000, 1000)]
    [InlineData("""{"max_tokens":1e3}""", null, 1000)]
    [InlineData("""{"max_tokens":7.9}""", null, 7)]
    public void For_Messages_IsMaxTokensClampedByTheInstance(string body, int? cap, int expected)
    {
        Assert.Equal(expected, Budget(body, ApiRoute.Messages, cap)!.Tokens);
    }

    [Theory]
    // llama-server reads n_predict, then max_completion_tokens, then max_tokens: the first one present counts.
    [InlineData("""{"max_tokens":10,"n_predict":300}""", null, 300)]
    [InlineData("""{"max_tokens":10,"max_completion_tokens":200}""", null, 200)]
    [InlineData("""{"max_tokens":10}""", null, 10)]
    [InlineData("""{"n_predict":-1}""", 500, 500)]
    [InlineData("""{"max_completion_tokens":1e9}""", 1000, 1000)]
    [InlineData("""{"max_tokens":null}""", 64, 64)]
    public void For_OpenAiRoutes_FollowsLlamaServersOrderOfSpellings(string body, int? cap, int expected)
    {
        Assert.Equal(expected, Budget(body, ApiRoute.ChatCompletions, cap)!.Tokens);
        Assert.Equal(expected, Budget(body, ApiRoute.Completion, cap)!.Tokens);
    }

    [Theory]
    [InlineData("""{"messages":[]}""", nameof(ApiRoute.ChatCompletions))]
    [InlineData("""{"n_predict":-1}""", nameof(ApiRoute.Completion))]
    [InlineData("""{"max_tokens":"many"}""", nameof(ApiRoute.Messages))]
    [InlineData("""{"max_tokens":5}""", nameof(ApiRoute.CountTokens))]
    public void For_NoLimitAnywhere_IsNone(string body, string route)
    {
        Assert.Null(Budget(body, Enum.Parse<ApiRoute>(route), cap: null));
    }

    [Fact]
    public void Count_OpenAiChunks_EndsPastTheBudgetAndItsMargin()
    {
        var budget = Budget("""{"max_tokens":100}""", ApiRoute.ChatCompletions, null)!;
        Assert.Equal(116, budget.EventLimit);

        for (var i = 0; i < budget.EventLimit; i++)
        {
            Assert.False(budget.Count(default, """{"choices":[{"delta":{"content":"x"}}]}"""u8));
            Assert.False(budget.Count(default, "[DONE]"u8));
        }

        Assert.True(budget.Count(default, """{"choices":[{"delta":{"content":"x"}}]}"""u8));
    }

    [Fact]
    public void Count_AnthropicEvents_CountsOnlyContentDeltas()
    {
        var budget = Budget("""{"max_tokens":1000}""", ApiRoute.Messages, null, anthropicEvents: true)!;
        Assert.Equal(1125, budget.EventLimit);

        for (var i = 0; i < 5000; i++)
        {
            Assert.False(budget.Count("ping"u8, """{"type":"ping"}"""u8));
        }

        for (var i = 0; i < budget.EventLimit; i++)
        {
            Assert.False(budget.Count("content_block_delta"u8, """{"type":"content_block_delta"}"""u8));
        }

        Assert.True(budget.Count("content_block_delta"u8, """{"type":"content_block_delta"}"""u8));
    }
}
