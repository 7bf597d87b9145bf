using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using LlamaGateway.Hosting;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Connections;

namespace LlamaGateway.Tests.Functional;

public sealed class LargeBodyTests
{
    [Fact]
    public async Task Messages_BodyOfManyReadBlocks_ForwardedByteForByteThroughTheLargeBlockPool()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, dialect: "anthropic");

        // ~300 KB: about ten of the 32 KiB blocks Kestrel reads into, with multi-byte characters and escapes that
        // land on block boundaries somewhere along the way.
        var text = new StringBuilder();
        for (var i = 0; text.Length < 300_000; i++)
        {
            text.Append(i.ToString(CultureInfo.InvariantCulture)).Append(" zürich \"quoted\" \\ line\n 日本語 ");
        }

        var body = JsonSerializer.Serialize(new
        {
            model = "claude-x",
            max_tokens = 100,
            messages = new[] { new { role = "user", content = text.ToString() } },
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var response = await gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Assert.Single(upstream.Requests);
        Assert.Equal(body, sent.BodyText);

        // Kestrel took its buffers from the gateway's factory, not its 4 KiB default.
        var factory = Assert.IsType<LargeBlockMemoryPoolFactory>(gateway.Service<IMemoryPoolFactory<byte>>());
        Assert.Contains(factory.Created, pool => pool.AllocatedBlocks > 0);
    }
}
