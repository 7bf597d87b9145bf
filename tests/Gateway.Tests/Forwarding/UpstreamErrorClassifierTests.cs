using System.Text;
using System.Text.Json;
using LlamaGateway.Forwarding;

namespace LlamaGateway.Tests.Forwarding;

/// <summary>Whose fault an upstream error is, on llama-server's recorded answers and on its source's other messages.</summary>
public sealed class UpstreamErrorClassifierTests
{
    private static readonly string RecordedPath = Path.Combine(AppContext.BaseDirectory, "fixtures", "llama-server", "request-errors.json");

    public static TheoryData<string> RecordedNames() => new(Names());

    private static List<string> Names()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(RecordedPath));
        return document.RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToList();
    }

    private static (int Status, byte[] Body) Recorded(string name)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(RecordedPath));
        var entry = document.RootElement.EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        return (entry.GetProperty("status").GetInt32(), JsonSerializer.SerializeToUtf8Bytes(entry.GetProperty("body")));
    }

    private static UpstreamFault Classify(int status, string body) => UpstreamErrorClassifier.Classify(status, UpstreamErrorBody.Parse(Encoding.UTF8.GetBytes(body)));

    [Theory]
    [MemberData(nameof(RecordedNames))]
    public void Classify_RecordedLlamaServerAnswerToABadRequest_IsTheRequestsFault(string name)
    {
        var (status, body) = Recorded(name);

        Assert.Equal(UpstreamFault.Request, UpstreamErrorClassifier.Classify(status, UpstreamErrorBody.Parse(body)));
    }

    [Fact]
    public void Recorded_ManyBadRequests_AreHttp500ServerErrors()
    {
        // What makes the classifier necessary: the status alone would blame the instance.
        var fiveHundreds = Names().Count(name => Recorded(name).Status == 500);
        Assert.True(fiveHundreds >= 8, $"{fiveHundreds} recorded 500s");
    }

    [Theory]
    // llama-server's request-parsing messages (tools/server/server-common.cpp, common/chat.cpp, common/jinja) as HTTP 500.
    [InlineData("Multimodal data provided, but model does not support multimodal requests.")]
    [InlineData("audio input is not supported - hint: if this is unexpected, you may need to provide the mmproj")]
    [InlineData("Unsupported param: echo")]
    [InlineData("tools param requires --jinja flag")]
    [InlineData("Cannot use both json_schema and grammar")]
    [InlineData("Failed to load image or audio file")]
    [InlineData("Invalid base64 value")]
    [InlineData("Error: dry_sequence_breakers must be a non-empty array of strings")]
    [InlineData("\n------------\nWhile executing CallExpression at line 5, column 13 in source:\n...\nError: Conversation roles must alternate user/assistant")]
    [InlineData("got exception: [json.exception.type_error.302] type must be string, but is number")]
    [InlineData("input (5000 tokens) is too large to process. increase the physical batch size (current batch size: 2048)")]
    [InlineData("context shift is disabled")]
    [InlineData("\"prompt\" must not be empty")]
    public void Classify_500AboutTheRequest_IsTheRequestsFault(string message)
    {
        Assert.Equal(UpstreamFault.Request, Classify(500, OpenAiError(500, message, "server_error")));
    }

    [Theory]
    // Real trouble: decode failures, exceptions outside request parsing, unknown text, a 500 that is not JSON.
    [InlineData(500, """{"error":{"code":500,"message":"Compute error.","type":"server_error"}}""")]
    [InlineData(500, """{"error":{"code":500,"message":"Failed to decode the batch (KV cache full?)","type":"server_error"}}""")]
    [InlineData(500, """{"error":{"code":500,"message":"failed to process mtmd chunk","type":"server_error"}}""")]
    [InlineData(500, """{"error":{"code":500,"message":"got exception: failed to process speculative batch","type":"server_error"}}""")]
    [InlineData(500, """{"error":{"code":500,"message":"No available space in KV cache or invalid slot save file","type":"server_error"}}""")]
    [InlineData(500, """{"error":{"code":500,"message":"unknown error","type":"server_error"}}""")]
    [InlineData(500, """{"error":{"code":500,"message":"slot crashed","type":"server_error"}}""")]
    [InlineData(500, """{"error":{"code":500,"message":"","type":"server_error"}}""")]
    [InlineData(500, "Internal Server Error")]
    [InlineData(500, "<html><body>invalid gateway: must be configured</body></html>")]
    [InlineData(500, "")]
    [InlineData(503, """{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}""")]
    [InlineData(502, """{"error":{"code":502,"message":"invalid upstream","type":"server_error"}}""")]
    [InlineData(504, "gateway timeout: request must be retried")]
    public void Classify_RealServerTrouble_IsTheInstancesFault(int status, string body)
    {
        Assert.Equal(UpstreamFault.Instance, Classify(status, body));
    }

    [Theory]
    [InlineData(400, "server_error")]
    [InlineData(404, "not_found_error")]
    [InlineData(429, "rate_limit_error")]
    [InlineData(501, "not_supported_error")]
    [InlineData(500, "invalid_request_error")]
    [InlineData(500, "exceed_context_size_error")]
    public void Classify_4xxOrRequestType_IsTheRequestsFault(int status, string type)
    {
        Assert.Equal(UpstreamFault.Request, Classify(status, OpenAiError(status, "whatever it says", type)));
    }

    [Fact]
    public void Classify_AnthropicShaped500AboutTheRequest_IsTheRequestsFault()
    {
        Assert.Equal(UpstreamFault.Request, Classify(500, """{"type":"error","error":{"type":"api_error","message":"[json.exception.parse_error.101] parse error"}}"""));
    }

    private static string OpenAiError(int status, string message, string type) =>
        JsonSerializer.Serialize(new { error = new { code = status, message, type } });
}
