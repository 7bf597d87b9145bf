using System.Text;
using LlamaGateway.Pipeline;
using LlamaGateway.Reliability;

namespace LlamaGateway.Tests.Reliability;

public sealed class RequestShapeCheckTests
{
    [Theory]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"hi"}]}""")]
    [InlineData("""{"model":"m","system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"url","url":"u"}}]}]}""")]
    [InlineData("""{"model":"m","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"messages":[]}""")]
    public void Check_ValidMessagesBody_Null(string body)
    {
        Assert.Null(RequestShapeCheck.Check(Encoding.UTF8.GetBytes(body), ApiRoute.Messages));
    }

    [Theory]
    [InlineData("""{"model":"m","model":"n","messages":[]}""", "duplicate key \"model\" in the request object")]
    [InlineData("""{"m\u006fdel":"m","model":"n","messages":[]}""", "duplicate key \"model\" in the request object")]
    [InlineData("""{"model":"m","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"a":9,"messages":[]}""", "duplicate key \"a\" in the request object")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"},{"role":"user","content":[{"type":"text","text":"a","text":"b"}]}]}""", "duplicate key \"text\" in messages[1].content[0]")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}""", "messages[0].content[0].text must be a string")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"text":"a"}]}]}""", "messages[0].content[0].type is required")]
    [InlineData("""{"model":"m","system":[{"type":1}],"messages":[]}""", "system[0].type must be a string")]
    [InlineData("""{"model":"m","messages":[{"content":"x"}]}""", "messages[0].role is required")]
    [InlineData("""{"model":"m","messages":[3]}""", "messages[0] must be an object")]
    [InlineData("""{"model":"m","max_tokens":1.5,"messages":[]}""", "max_tokens must be an integer")]
    [InlineData("""{"model":"m"}""", "messages is required")]
    [InlineData("""{"messages":[]}""", "model is required")]
    public void Check_BadMessagesBody_NamesTheField(string body, string expected)
    {
        Assert.Equal(expected, RequestShapeCheck.Check(Encoding.UTF8.GetBytes(body), ApiRoute.Messages));
    }

    [Fact]
    public void Check_BlocksAfterContentArray_StillChecked()
    {
        // The content array is read to its end; the next member and message must still be seen.
        const string body = """{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}],"role":"x"}]}""";

        Assert.Equal("duplicate key \"role\" in messages[0]", RequestShapeCheck.Check(Encoding.UTF8.GetBytes(body), ApiRoute.Messages));
    }

    private const string Anthropic = "\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
    private const string ChatBody = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
    private const string CompletionBody = "\"prompt\":\"hi\"";

    /// <summary>Numbers llama-server's parser cannot hold (a parse error there, answered with a 500), anywhere in the body.</summary>
    [Theory]
    [InlineData("\"temperature\":1e999", "temperature is out of range: 1e999 is not a finite number")]
    [InlineData("\"temperature\":-1e999", "temperature is out of range: -1e999 is not a finite number")]
    [InlineData("\"top_p\":1E400", "top_p is out of range: 1E400 is not a finite number")]
    [InlineData("\"x\":{\"deep\":[1,2,1.5e309]}", "x.deep[2] is out of range: 1.5e309 is not a finite number")]
    [InlineData("\"max_tokens\":1e999", "max_tokens is out of range: 1e999 is not a finite number")]
    public void Check_NonFiniteNumber_AnyRouteAnywhere_NamesThePath(string member, string expected)
    {
        foreach (var (route, required) in Routes())
        {
            Assert.Equal(expected, Check(route, required + "," + member));
        }
    }

    [Fact]
    public void Check_NonFiniteNumberInMessages_NamesThePath()
    {
        Assert.Equal("messages[0].content[0].input.n is out of range: 2e308 is not a finite number",
            Check(ApiRoute.Messages, "\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"x\",\"input\":{\"n\":2e308}}]}]"));
    }

    [Theory]
    [InlineData("1e308")]
    [InlineData("-1.7976931348623157e308")]
    [InlineData("1e-999")]
    [InlineData("0.000000000000000000000000000000000000000000000000001")]
    public void Check_FiniteNumbers_Pass(string number)
    {
        foreach (var (route, required) in Routes())
        {
            Assert.Null(Check(route, $"{required},\"x\":{number},\"temperature\":{number}"));
        }
    }

    [Fact]
    public void Check_HugeIntegers_FiniteOrNot()
    {
        var finite = new string('9', 308);
        var infinite = new string('9', 309);

        Assert.Null(Check(ApiRoute.ChatCompletions, $"{ChatBody},\"x\":{finite}"));
        Assert.StartsWith("x is out of range: 999", Check(ApiRoute.ChatCompletions, $"{ChatBody},\"x\":{infinite}"), StringComparison.Ordinal);
    }

    /// <summary>Wrong types of known fields, which llama-server would answer with a 500 (or read as its default).</summary>
    [Theory]
    [InlineData("/v1/chat/completions", "\"tools\":\"x\"", "tools must be an array")]
    [InlineData("/v1/messages", "\"tools\":\"x\"", "tools must be an array")]
    [InlineData("/v1/messages/count_tokens", "\"tools\":{}", "tools must be an array")]
    [InlineData("/v1/chat/completions", "\"temperature\":\"hot\"", "temperature must be a number")]
    [InlineData("/completion", "\"temperature\":\"hot\"", "temperature must be a number")]
    [InlineData("/v1/messages", "\"temperature\":\"hot\"", "temperature must be a number")]
    [InlineData("/v1/chat/completions", "\"stream\":\"yes\"", "stream must be true or false")]
    [InlineData("/completion", "\"stream\":1", "stream must be true or false")]
    [InlineData("/v1/messages", "\"stream\":\"yes\"", "stream must be true or false")]
    [InlineData("/v1/chat/completions", "\"tool_choice\":5", "tool_choice must be a string or an object")]
    [InlineData("/v1/messages", "\"tool_choice\":\"auto\"", "tool_choice must be an object")]
    [InlineData("/v1/chat/completions", "\"logprobs\":5", "logprobs must be true or false")]
    [InlineData("/v1/chat/completions", "\"reasoning_format\":5", "reasoning_format must be a string")]
    [InlineData("/completion", "\"stop\":5", "stop must be a string or an array")]
    [InlineData("/completion", "\"logit_bias\":\"x\"", "logit_bias must be an object or an array")]
    [InlineData("/completion", "\"json_schema\":\"x\"", "json_schema must be a boolean or an object")]
    [InlineData("/v1/chat/completions", "\"model\":[]", "model must be a string")]
    [InlineData("/v1/messages", "\"metadata\":\"u\"", "metadata must be an object")]
    [InlineData("/v1/messages", "\"stop_sequences\":\"x\"", "stop_sequences must be an array")]
    [InlineData("/completion", "\"n_probs\":\"5\"", "n_probs must be a number")]
    public void Check_WrongTypeOfKnownField_NamesTheField(string path, string member, string expected)
    {
        var route = RouteOf(path);
        Assert.Equal(expected, Check(route, Required(route) + "," + member));
    }

    [Theory]
    [InlineData("/v1/chat/completions", """{"messages":{}}""", "messages must be an array")]
    [InlineData("/v1/messages", """{"model":"m","messages":{}}""", "messages must be an array")]
    [InlineData("/completion", """{"prompt":{}}""", "prompt must be a string or an array")]
    [InlineData("/completion", """{"prompt":null}""", "prompt is required")]
    [InlineData("/v1/chat/completions", """{"messages":null}""", "messages is required")]
    public void Check_RequiredFieldWrongOrNull_NamesIt(string path, string body, string expected)
    {
        Assert.Equal(expected, RequestShapeCheck.Check(Encoding.UTF8.GetBytes(body), RouteOf(path)));
    }

    /// <summary>Ranges llama-server enforces (an error there) or casts past (int32): refused before forwarding.</summary>
    [Theory]
    [InlineData("/v1/chat/completions", "\"top_k\":1e10", "top_k must be between -2147483648 and 2147483647, got 1e10")]
    [InlineData("/completion", "\"n_keep\":-2", "n_keep must be between -1 and 2147483647, got -2")]
    [InlineData("/completion", "\"n_indent\":-1", "n_indent must be between 0 and 2147483647, got -1")]
    [InlineData("/completion", "\"n_discard\":3000000000", "n_discard must be between 0 and 2147483647, got 3000000000")]
    [InlineData("/completion", "\"t_max_predict_ms\":-5", "t_max_predict_ms must be between -1 and 9223372036854775808, got -5")]
    [InlineData("/v1/chat/completions", "\"adaptive_decay\":1.5", "adaptive_decay must be between 0 and 0.99, got 1.5")]
    [InlineData("/v1/messages", "\"top_k\":99999999999", "top_k must be between -2147483648 and 2147483647, got 99999999999")]
    public void Check_OutOfRange_NamesTheFieldAndTheRange(string path, string member, string expected)
    {
        var route = RouteOf(path);
        Assert.Equal(expected, Check(route, Required(route) + "," + member));
    }

    /// <summary>Values of fields the gateway owns that it refuses rather than changes.</summary>
    [Theory]
    [InlineData("/v1/chat/completions", "\"n\":4", "n must be 1")]
    [InlineData("/completion", "\"n\":2.0", "n must be 1")]
    [InlineData("/v1/chat/completions", "\"n_cmpl\":4", "n_cmpl must be 1")]
    [InlineData("/completion", "\"n\u005fcmpl\":0", "n_cmpl must be 1")]
    [InlineData("/v1/chat/completions", "\"lora\":[{\"id\":0,\"scale\":1}]", "lora is not available through the gateway")]
    [InlineData("/completion", "\"prompt2\":1,\"lora\":[{}]", "lora is not available through the gateway")]
    [InlineData("/v1/chat/completions", "\"max_tokens\":\"100\"", "max_tokens must be an integer")]
    [InlineData("/completion", "\"max_completion_tokens\":1.5", "max_completion_tokens must be an integer")]
    [InlineData("/completion", "\"n_predict\":\"x\"", "n_predict must be an integer")]
    [InlineData("/v1/messages", "\"max_tokens\":0", "max_tokens must be a positive integer")]
    [InlineData("/v1/messages", "\"max_tokens\":-1", "max_tokens must be a positive integer")]
    [InlineData("/v1/messages", "\"max_tokens\":\"many\"", "max_tokens must be an integer")]
    public void Check_OwnedFieldValueTheGatewayRefuses_NamesTheField(string path, string member, string expected)
    {
        var route = RouteOf(path);
        Assert.StartsWith(expected, Check(route, Required(route) + "," + member), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"prompt":["a","b"]}""")]
    [InlineData("""{"prompt":[[1],[2]]}""")]
    public void Check_SeveralPrompts_Refused(string body)
    {
        Assert.StartsWith("prompt must be one prompt", RequestShapeCheck.Check(Encoding.UTF8.GetBytes(body), ApiRoute.Completion), StringComparison.Ordinal);
    }

    /// <summary>What the gateway owns by changing it (clamps, replacements) passes the check: the patcher applies it.</summary>
    [Theory]
    [InlineData("\"max_tokens\":1e9")]
    [InlineData("\"max_completion_tokens\":1000.0")]
    [InlineData("\"n_predict\":-1")]
    [InlineData("\"max_tokens\":99999999999999999999999")]
    [InlineData("\"n\":1")]
    [InlineData("\"n\":null")]
    [InlineData("\"n_probs\":100000")]
    [InlineData("\"id_slot\":\"x\"")]
    [InlineData("\"cache_prompt\":false")]
    [InlineData("\"lora\":[]")]
    [InlineData("\"return_progress\":true")]
    [InlineData("\"response_fields\":[\"content\"]")]
    [InlineData("\"t_max_predict_ms\":60000")]
    [InlineData("\"seed\":4294967295")]
    [InlineData("\"unknown_field\":\"anything\"")]
    public void Check_OwnedValuesTheGatewayChanges_Pass(string member)
    {
        foreach (var route in new[] { ApiRoute.ChatCompletions, ApiRoute.Completion })
        {
            Assert.Null(Check(route, Required(route) + "," + member));
        }
    }

    [Fact]
    public void Check_EveryKnownField_AcceptsNull()
    {
        foreach (var (route, required) in Routes())
        {
            foreach (var rule in LlamaGateway.Translation.FieldPolicy.Rules(route))
            {
                if (rule.Name is "model" or "messages" or "prompt")
                {
                    continue;
                }

                Assert.Null(Check(route, $"{required},\"{rule.Name}\":null"));
            }
        }
    }

    [Fact]
    public void Check_DuplicateHugeKey_NameCutInTheMessage()
    {
        var name = new string('k', 100_000);

        var problem = Check(ApiRoute.ChatCompletions, $"{ChatBody},\"{name}\":1,\"{name}\":2");

        Assert.NotNull(problem);
        Assert.True(problem.Length < 1200, $"{problem.Length} chars");
        Assert.Contains("truncated by the gateway", problem, StringComparison.Ordinal);
    }

    private static IEnumerable<(ApiRoute Route, string Required)> Routes() =>
        [(ApiRoute.Messages, Anthropic), (ApiRoute.CountTokens, Anthropic), (ApiRoute.ChatCompletions, ChatBody), (ApiRoute.Completion, CompletionBody)];

    private static string Required(ApiRoute route) => Routes().First(r => r.Route == route).Required;

    private static ApiRoute RouteOf(string path) => path switch
    {
        "/v1/messages" => ApiRoute.Messages,
        "/v1/messages/count_tokens" => ApiRoute.CountTokens,
        "/v1/chat/completions" => ApiRoute.ChatCompletions,
        _ => ApiRoute.Completion,
    };

    private static string? Check(ApiRoute route, string members) =>
        RequestShapeCheck.Check(Encoding.UTF8.GetBytes("{" + members + "}"), route);
}
