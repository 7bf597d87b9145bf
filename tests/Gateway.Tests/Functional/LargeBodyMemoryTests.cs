using System.Net;
using System.Text;
using System.Text.Json;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Reliability;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Functional;

/// <summary>Runs alone: it reads process-wide pool counters and the GC's heap sizes, which other tests would move.</summary>
[CollectionDefinition(nameof(LargeBodyMemoryCollection), DisableParallelization = true)]
public sealed class LargeBodyMemoryCollection;

/// <summary>
/// A burst of large bodies through the real gateway leaves nothing behind: the pools keep no more than their budgets,
/// the large arrays all come back and become unreachable (the old pool kept every 32 MB array it had handed out), and
/// once the burst is over the gateway runs the collection that gives their memory back.
/// </summary>
[Collection(nameof(LargeBodyMemoryCollection))]
public sealed class LargeBodyMemoryTests
{
    private const int Concurrent = 12;
    private const int BodyMegabytes = 12;

    [Fact]
    public async Task BurstOfLargeBodies_Over_PoolsWithinBudgetAndLargeObjectHeapReclaimed()
    {
        await using var upstream = await FakeUpstream.StartAsync(static (http, recorded) =>
        {
            http.Response.ContentType = "application/json";
            return http.Response.WriteAsync(recorded.Path.StartsWith("/v1/messages/count_tokens", StringComparison.Ordinal)
                ? """{"input_tokens":7}"""
                : """{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}""");
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?> { ["Gateway:MaxRequestBodyBytes"] = (64 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var collectionsBefore = LargeArrayReclaimer.Collections;
        var handedOut = new System.Collections.Concurrent.ConcurrentBag<WeakReference>();
        BodyBufferPool.Bytes.LargeRented = array => handedOut.Add(new WeakReference(array));
        JsonTape.EntryPool.LargeRented = array => handedOut.Add(new WeakReference(array));
        try
        {
            var text = new string('x', BodyMegabytes * 1024 * 1024);
            var body = JsonSerializer.Serialize(new { model = "m", messages = new[] { new { role = "user", content = text } } });
            var statuses = await Task.WhenAll(Enumerable.Range(0, Concurrent).Select(async i =>
            {
                var path = i % 3 == 0 ? "/v1/chat/completions" : "/v1/messages/count_tokens";
                using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                request.Headers.Add("anthropic-version", "2023-06-01");
                using var response = await gateway.Client.SendAsync(request);
                return response.StatusCode;
            }));

            Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
        }
        finally
        {
            BodyBufferPool.Bytes.LargeRented = null;
            JsonTape.EntryPool.LargeRented = null;
        }

        await Leaks.AssertNoneAsync(gateway);

        // Every large array came back, and the pools kept none of them (nor more than their budgets of small ones).
        Assert.True(handedOut.Count >= Concurrent * 2, $"{handedOut.Count} large arrays rented");
        await Poll.UntilAsync(() => LargeArrayReclaimer.OutstandingBytes == 0, "every large array to be returned");
        Assert.InRange(BodyBufferPool.Bytes.RetainedBytes, 0, 64L * 1024 * 1024);
        Assert.InRange(JsonTape.EntryPool.RetainedBytes, 0, 32L * 1024 * 1024);

        // The burst's end set off one collection; nothing of the gateway's (its keep-alive connections to the client
        // and to the upstream included, still open) holds any of the arrays any more.
        await Poll.UntilAsync(() => LargeArrayReclaimer.Collections > collectionsBefore, "the collection after the burst", TimeSpan.FromSeconds(15));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var alive = handedOut.Count(weak => weak.IsAlive);
        Assert.True(alive == 0, $"{alive} of the burst's {handedOut.Count} large arrays are still reachable");
    }

    [Fact]
    public async Task SmallBodies_StayPooled()
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl);
        var body = JsonSerializer.Serialize(new { model = "m", messages = new[] { new { role = "user", content = new string('y', 100_000) } } });
        for (var i = 0; i < 5; i++)
        {
            using var response = await gateway.Client.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Leaks.AssertNoneAsync(gateway);

        // The buffers of a 100 KB request were returned for reuse, not dropped: the next rent of one is a pooled array.
        Assert.True(BodyBufferPool.Bytes.RetainedBytes >= 128 * 1024, $"{BodyBufferPool.Bytes.RetainedBytes} bytes retained");
        var dropped = BodyBufferPool.Bytes.DroppedArrays;
        var array = BodyBufferPool.Bytes.Rent(100_000);
        BodyBufferPool.Bytes.Return(array);
        Assert.Equal(dropped, BodyBufferPool.Bytes.DroppedArrays);
    }
}
