using System.Collections.Concurrent;
using System.Net;
using System.Text;
using LlamaGateway.Forwarding;
using LlamaGateway.Reliability;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Forwarding;

/// <summary>
/// llama-server serves each connection on one of a fixed set of HTTP threads for as long as it stays open, so a burst of
/// new connections waits seconds for threads (Claude Code's count_tokens burst at session start). The gateway keeps
/// at most <see cref="UpstreamHttpClient.ShortRequestConnections"/> connections to an instance for count_tokens, apart
/// from generation's one per slot.
/// </summary>
public sealed class UpstreamConnectionLimitTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task CountTokens_BurstOfTwenty_AtMostItsOwnTwoConnectionsAndAllAnswered()
    {
        const int slots = 4;
        const int burst = 20;
        var limit = UpstreamHttpClient.ShortRequestConnections;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var connections = new ConcurrentDictionary<string, bool>();
        var inFlight = 0;
        var mostInFlight = 0;
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            connections.TryAdd(http.Connection.Id, true);
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref mostInFlight, now);
            await release.Task.WaitAsync(Bound);
            Interlocked.Decrement(ref inFlight);
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync("""{"input_tokens":42}""");
        });
        upstream.TotalSlots = slots;
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:Slots"] = slots.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        Assert.True(limit < slots, "the test needs count_tokens' pool to be smaller than generation's");

        var requests = Enumerable.Range(0, burst).Select(i => gateway.Client.SendAsync(CountTokens(i))).ToList();

        // Every request is inside the gateway and the upstream holds as many as the limit allows; the rest wait in the
        // gateway for one of those connections instead of opening their own.
        var shutdown = gateway.Service<GatewayShutdown>();
        await Eventually.TrueAsync(() => shutdown.InFlight == burst && Volatile.Read(ref inFlight) == limit, Bound);
        release.TrySetResult();

        foreach (var request in requests)
        {
            using var response = await request.WaitAsync(Bound);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("42", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(limit, Volatile.Read(ref mostInFlight));
        Assert.True(connections.Count <= limit, $"{connections.Count} connections for {burst} requests, limit {limit}");
        Assert.Equal(burst, upstream.Requests.Count(r => r.Path.StartsWith("/v1/messages/count_tokens", StringComparison.Ordinal)));
    }

    private static HttpRequestMessage CountTokens(int i)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages/count_tokens")
        {
            Content = new StringContent($$"""{"model":"claude-x","messages":[{"role":"user","content":"foo {{i}}"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
