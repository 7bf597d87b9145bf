using System.Text;
using System.Text.Json.Nodes;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Support;
using static LlamaGateway.Tests.Normalization.NormalizerRun;

namespace LlamaGateway.Tests.Normalization;

public sealed class RequestNormalizerIdempotenceTests
{
    public static TheoryData<string, string, bool> RecordedCases()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var name in Fixtures.RecordedRequestNames)
        {
            foreach (var mode in Enum.GetNames<BillingHeaderMode>())
            {
                data.Add(name, mode, true);
                data.Add(name, mode, false);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RecordedCases))]
    public void Normalize_RecordedRequestTwice_SecondPassChangesNothing(string name, string mode, bool fold)
    {
        var settings = Settings(Enum.Parse<BillingHeaderMode>(mode), fold);

        var once = Ok(Fixtures.RecordedBody(name), ApiRoute.Messages, settings);
        var twice = Ok(once, ApiRoute.Messages, settings);

        Assert.Equal(Encoding.UTF8.GetString(once), Encoding.UTF8.GetString(twice));
    }

    [Theory]
    [MemberData(nameof(RecordedCases))]
    public void Normalize_RecordedRequestAsChatBody_SecondPassChangesNothing(string name, string mode, bool fold)
    {
        // The same content shaped as an OpenAI chat body: system prompt as the first message.
        var node = JsonNode.Parse(Fixtures.RecordedBody(name))!;
        var messages = node["messages"]!.AsArray();
        var system = node["system"]!.DeepClone();
        node.AsObject().Remove("system");
        messages.Insert(0, new JsonObject { ["role"] = "system", ["content"] = system });
        var settings = Settings(Enum.Parse<BillingHeaderMode>(mode), fold);

        var once = Ok(Encoding.UTF8.GetBytes(node.ToJsonString()), ApiRoute.ChatCompletions, settings);
        var twice = Ok(once, ApiRoute.ChatCompletions, settings);

        Assert.Equal(Encoding.UTF8.GetString(once), Encoding.UTF8.GetString(twice));
    }

    [Theory]
    [InlineData("Replace")]
    [InlineData("Strip")]
    public void Normalize_CompletionPromptTwice_SecondPassChangesNothing(string mode)
    {
        var json = """{"prompt":"<|im_start|>system\nx-anthropic-billing-header: cc_version=2.1.63.a43; cch=e2224;\nYou are X\nx-anthropic-billing-header: cch=11111;<|im_end|>\n","n_predict":1.0}""";
        var settings = Settings(Enum.Parse<BillingHeaderMode>(mode));

        var once = Ok(Encoding.UTF8.GetBytes(json), ApiRoute.Completion, settings);
        var twice = Ok(once, ApiRoute.Completion, settings);

        Assert.Equal(Encoding.UTF8.GetString(once), Encoding.UTF8.GetString(twice));
        Assert.DoesNotContain("cch=", Encoding.UTF8.GetString(once));
    }
}
