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
}
