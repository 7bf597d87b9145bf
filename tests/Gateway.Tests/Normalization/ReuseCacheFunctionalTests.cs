using System.Net;
using System.Net.Http.Headers;
using LlamaGateway.Normalization;
using LlamaGateway.Tests.Reliability;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Normalization;

/// <summary>The reuse cache on the real request path (Kestrel on loopback, a fake llama-server): it is used, and what reaches the upstream is what it would be without it.</summary>
public sealed class ReuseCacheFunctionalTests
{
    [Fact]
    public async Task Messages_SameConversationTurnsThroughGateway_ReusedAndUpstreamBodiesAsWithoutCache()
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteWholeStreamAsync(http, StreamPath.TranslatedAnthropic));
        await using var reusing = await GatewayHost.StartAsync(upstream.BaseUrl);
        var first = Fixtures.RecordedBody("turn1-first");
        var followUp = Fixtures.RecordedBody("turn2-continue");

        // A conversation's first turn (sent twice, as a retry would), then its follow-up twice.
        foreach (var body in new[] { first, first, followUp, followUp })
        {
            await SendAsync(reusing, body);
        }

        var cache = reusing.Service<RequestBodyReader>().ReuseCache;
        Assert.NotNull(cache);
        Assert.True(cache.Hits >= 3, $"hits: {cache.Hits}");
        var viaCache = upstream.Requests.Select(r => r.BodyText).ToArray();

        await using var plainUpstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteWholeStreamAsync(http, StreamPath.TranslatedAnthropic));
        await using var plain = await GatewayHost.StartAsync(plainUpstream.BaseUrl, new Dictionary<string, string?> { ["Gateway:Normalization:ReuseCacheMegabytes"] = "0" });
        Assert.Null(plain.Service<RequestBodyReader>().ReuseCache);
        foreach (var body in new[] { first, first, followUp, followUp })
        {
            await SendAsync(plain, body);
        }

        Assert.Equal(plainUpstream.Requests.Select(r => r.BodyText).ToArray(), viaCache);
    }

    [Fact]
    public async Task StartAsync_NegativeReuseCacheSize_FailsNamingTheSetting()
    {
        await using var upstream = await FakeUpstream.StartAsync();

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?> { ["Gateway:Normalization:ReuseCacheMegabytes"] = "-1" }));

        Assert.Contains("Gateway:Normalization:ReuseCacheMegabytes must be between 0 (off) and 16384, got -1", error.Message, StringComparison.Ordinal);
    }

    private static async Task SendAsync(GatewayHost gateway, byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages?beta=true") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        using var response = await gateway.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Contains("message_stop", text, StringComparison.Ordinal);
    }
}
