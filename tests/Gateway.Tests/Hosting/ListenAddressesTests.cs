using LlamaGateway.Hosting;

namespace LlamaGateway.Tests.Hosting;

public sealed class ListenAddressesTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("http://127.0.0.1:8090")]
    [InlineData("http://0.0.0.0:8090")]
    [InlineData("http://*:8090")]
    [InlineData("http://+:80")]
    [InlineData("http://[::1]:0")]
    [InlineData("http://localhost:8090")]
    [InlineData("http://gateway.example.internal:8090")]
    [InlineData("https://127.0.0.1:8443")]
    [InlineData("http://127.0.0.1")]
    [InlineData("http://127.0.0.1:0; http://[::1]:0")]
    [InlineData("http://unix:/run/llama-gateway.sock")]
    public void Check_UsableAddress_Accepted(string? urls)
    {
        ListenAddresses.Check(urls);
    }

    [Theory]
    [InlineData("notaurl", "is not a URL")]
    [InlineData("127.0.0.1:8090", "is not a URL")]
    [InlineData("ftp://127.0.0.1:21", "must start with http:// or https://")]
    [InlineData("http://127.0.0.1:99999", "has port 99999")]
    [InlineData("http://127.0.0.1:-1", "has port -1")]
    [InlineData("http://127.0.0.1:80a", "no valid host and port")]
    [InlineData("http://127.0.0.1:8090;http://127.0.0.1:x", "\"http://127.0.0.1:x\"")]
    [InlineData("http://localhost:0", "use http://127.0.0.1:0")]
    public void Check_UnusableAddress_RefusedNamingIt(string urls, string expected)
    {
        var error = Assert.Throws<GatewayStartupException>(() => ListenAddresses.Check(urls));

        Assert.Contains(expected, error.Message);
        Assert.Contains("--urls", error.Message);
    }
}
