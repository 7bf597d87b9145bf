using System.Text;
using System.Text.Json;
using LlamaGateway.Conversations;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Support;
using static LlamaGateway.Tests.Normalization.NormalizerRun;

namespace LlamaGateway.Tests.Normalization;

public sealed class RequestNormalizerFailureTests
{
    public static TheoryData<string, string, string> BadBodies => new()
    {
        { nameof(ApiRoute.Messages), "", "empty" },
        { nameof(ApiRoute.Messages), "  \n", "empty" },
        { nameof(ApiRoute.Messages), """{"a":}""", "not valid JSON (in a)" },
        { nameof(ApiRoute.Messages), """{"model":"m","messages":[{"role":"user","content":"x"}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), "[]", "must be a JSON object" },
        { nameof(ApiRoute.Completion), "\"text\"", "must be a JSON object" },
        { nameof(ApiRoute.Messages), "{} x", "not valid JSON" },
        { nameof(ApiRoute.Messages), "{}{}", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"a":1,}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{/* c */"a":1}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"messages":{}}""", "messages must be an array" },
        { nameof(ApiRoute.ChatCompletions), """{"messages":"hi"}""", "messages must be an array" },
        { nameof(ApiRoute.Messages), """{"system":5}""", "system must be a string or an array" },
        { nameof(ApiRoute.CountTokens), """{"system":{"text":"x"}}""", "system must be a string or an array" },
        { nameof(ApiRoute.Messages), """{"system":[5]}""", "system[0] must be an object" },
        { nameof(ApiRoute.Messages), """{"system":[{"type":"text","text":"a"},{"type":"text","text":7}]}""", "system[1].text must be a string" },
        { nameof(ApiRoute.Messages), """{"messages":[{"role":"user","content":"a"},1]}""", "messages[1] must be an object" },
        { nameof(ApiRoute.Messages), """{"messages":[{"role":5,"content":"a"}]}""", "messages[0].role must be a string" },
        { nameof(ApiRoute.Messages), """{"messages":[{"role":"user","content":"a"},{"role":"system","content":5}]}""", "messages[1].content must be a string or an array" },
        { nameof(ApiRoute.Messages), """{"messages":[{"role":"user","content":{}},{"role":"system","content":"x"}]}""", "messages[0].content must be a string or an array" },
        { nameof(ApiRoute.Messages), """{"messages":[{"role":"user","content":"a"},{"role":"system","content":[1]}]}""", "messages[1].content[0] must be an object" },
        { nameof(ApiRoute.ChatCompletions), """{"messages":[{"role":"system","content":5}]}""", "messages[0].content must be a string or an array" },
        { nameof(ApiRoute.ChatCompletions), """{"messages":[{"role":"system","content":[{"type":"text","text":false}]}]}""", "messages[0].content[0].text must be a string" },
        { nameof(ApiRoute.Completion), """{"prompt":5}""", "prompt must be a string or an array" },
        { nameof(ApiRoute.Messages), """{"system":"\ud800 lone surrogate"}""", "not valid JSON (in system)" },
        { nameof(ApiRoute.Messages), """{"system":"\udc00 low first"}""", "not valid JSON (in system)" },
        { nameof(ApiRoute.Messages), """{"system":"\u12G4"}""", "not valid JSON (in system)" },
        { nameof(ApiRoute.Messages), """{"n":01}""", "not valid JSON (in n)" },
        { nameof(ApiRoute.Messages), """{"n":1.}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"n":-}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"n":tru}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"n":nullx}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"n":[1 2]}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"n" 1}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{n:1}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"a":[1,]}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"a":"x""", "not valid JSON" },
        { nameof(ApiRoute.Messages), "{\"a\":\"tab\tinside\"}", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"a":1""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"a":1,""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"a":[}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"a":{]}""", "not valid JSON" },
        { nameof(ApiRoute.Messages), """{"messages":[{"role":"user","content":"bad \x escape"}]}""", "not valid JSON (in messages[0].content)" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public void Normalize_BadBody_FailsWithMessageNamingTheProblem(string routeName, string json, string expected)
    {
        var (outcome, _) = Run(Encoding.UTF8.GetBytes(json), Enum.Parse<ApiRoute>(routeName), Replace());

        Assert.False(outcome.Success);
        Assert.Contains(expected, outcome.Error);
    }

    [Fact]
    public void Normalize_InvalidUtf8InString_FailsNamingField()
    {
        byte[] body = [.. """{"messages":[{"role":"user","content":[{"type":"text","text":"ok """u8, 0xFF, .. "\"}]}]}"u8];

        var (outcome, _) = Run(body, ApiRoute.Messages, Replace());

        Assert.False(outcome.Success);
        Assert.Contains("not valid UTF-8", outcome.Error);
        Assert.Contains("messages[0].content[0].text", outcome.Error);
    }

    [Theory]
    [InlineData(nameof(ApiRoute.Messages))]
    [InlineData(nameof(ApiRoute.ChatCompletions))]
    [InlineData(nameof(ApiRoute.Completion))]
    public void Normalize_TenThousandLevelsDeep_Fails(string routeName)
    {
        var body = Encoding.UTF8.GetBytes("{\"x\":" + new string('[', 10_000) + new string(']', 10_000) + "}");

        var (outcome, _) = Run(body, Enum.Parse<ApiRoute>(routeName), Replace());

        Assert.False(outcome.Success);
        Assert.Contains("depth", outcome.Error);
    }

    [Fact]
    public void Normalize_DeepButWithinLimit_Succeeds()
    {
        var body = Encoding.UTF8.GetBytes("{\"x\":" + new string('[', 200) + new string(']', 200) + "}");

        Assert.Equal(body, Ok(body, ApiRoute.Messages, Replace()));
    }

    [Fact]
    public void Normalize_EveryTruncationOfRecordedRequest_FailsWithoutThrowing()
    {
        var body = Fixtures.RecordedBody("turn2-continue");
        for (var length = 0; length < body.Length; length += 97)
        {
            var (outcome, _) = Run(body.AsSpan(0, length), ApiRoute.Messages, Replace());

            Assert.False(outcome.Success, $"length {length}");
            Assert.False(string.IsNullOrEmpty(outcome.Error));
        }
    }

    [Theory]
    [InlineData(nameof(ApiRoute.Messages), "Replace", true)]
    [InlineData(nameof(ApiRoute.Messages), "Strip", true)]
    [InlineData(nameof(ApiRoute.Messages), "Keep", false)]
    [InlineData(nameof(ApiRoute.ChatCompletions), "Replace", true)]
    [InlineData(nameof(ApiRoute.ChatCompletions), "Strip", false)]
    [InlineData(nameof(ApiRoute.Completion), "Replace", true)]
    public void Normalize_RandomlyCorruptedRecordedRequest_NeverThrows(string routeName, string mode, bool fold)
    {
        var route = Enum.Parse<ApiRoute>(routeName);
        var settings = Settings(Enum.Parse<BillingHeaderMode>(mode), fold);
        var original = Fixtures.RecordedBody("turn2-continue");
        var random = new Random(1234);
        var special = "{}[]\",:\\0 tfn\xff"u8.ToArray();
        for (var round = 0; round < 400; round++)
        {
            var body = (byte[])original.Clone();
            for (var edits = random.Next(1, 4); edits > 0; edits--)
            {
                body[random.Next(body.Length)] = special[random.Next(special.Length)];
            }

            var (outcome, output) = Run(body, route, settings);

            Assert.True(outcome.Success || !string.IsNullOrEmpty(outcome.Error));
            Assert.True(!outcome.Success || IsJson(output), $"round {round}: success with invalid JSON output");
            // Neither may throw; whatever normalizes must also fingerprint.
            _ = ConversationFingerprinter.Compute(body, route);
            Assert.True(!outcome.Success || ConversationFingerprinter.Compute(output, route) is not null, $"round {round}: no fingerprint");
        }
    }

    private static bool IsJson(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
