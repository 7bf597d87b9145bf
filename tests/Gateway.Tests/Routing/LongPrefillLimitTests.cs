using System.Collections.Concurrent;
using System.Net;
using System.Text;
using LlamaGateway.Routing;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Routing;

/// <summary>
/// The gateway on real Kestrel in front of a fake llama-server that holds each stream's first event until the test
/// lets it go, as llama-server does while it processes the prompt.
/// </summary>
public sealed class LongPrefillLimitTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    // 40,000 characters of system prompt: ~11 s of prefill at the default 1,000 tokens/s, over the 4 s that count as long.
    private static string ColdConversation(string project) =>
        $$$"""{"model":"claude-x","max_tokens":1000,"stream":true,"system":"You work in {{{project}}}. {{{new string('x', 40_000)}}}","tools":[{"name":"Read","description":"reads","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"}]}""";

    private static HttpRequestMessage Post(string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    [Fact]
    public async Task Messages_SecondColdConversationWhileFirstPrefills_ReachesUpstreamOnlyAfterFirstOutput()
    {
        var arrived = new ConcurrentQueue<string>();
        var firstArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync(async (http, request) =>
        {
            var project = request.BodyText.Contains("project-a", StringComparison.Ordinal) ? "a" : "b";
            arrived.Enqueue(project);
            (project == "a" ? firstArrived : secondArrived).TrySetResult();
            await FakeUpstream.StartStreamAsync(http);
            if (project == "a")
            {
                await releaseFirst.Task.WaitAsync(Bound, http.RequestAborted);
            }

            await FakeUpstream.WriteEventAsync(http, null, """{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}""");
            if (project == "a")
            {
                // Still generating: only the prompt is done.
                await secondArrived.Task.WaitAsync(Bound, http.RequestAborted);
            }

            await FakeUpstream.WriteEventAsync(http, null, """{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":10800,"completion_tokens":2,"total_tokens":10802}}""");
            await FakeUpstream.WriteEventAsync(http, null, "[DONE]");
        });
        upstream.TotalSlots = 4;
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:Slots"] = "4",
            ["Gateway:Routing:MaxSlotsPerUser"] = "4",
        });
        var router = gateway.Service<SlotRouter>();

        var first = gateway.Client.SendAsync(Post(ColdConversation("project-a")), HttpCompletionOption.ResponseHeadersRead);
        await firstArrived.Task.WaitAsync(Bound);
        var second = gateway.Client.SendAsync(Post(ColdConversation("project-b")), HttpCompletionOption.ResponseHeadersRead);
        await Eventually.TrueAsync(() => router.QueueLength == 1, Bound);

        Assert.Equal(["a"], arrived.ToArray());
        releaseFirst.SetResult();

        await secondArrived.Task.WaitAsync(Bound);
        using var firstResponse = await first.WaitAsync(Bound);
        using var secondResponse = await second.WaitAsync(Bound);
        Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
        Assert.Equal(HttpStatusCode.OK, secondResponse.StatusCode);
        Assert.Contains("message_stop", await firstResponse.Content.ReadAsStringAsync().WaitAsync(Bound), StringComparison.Ordinal);
        Assert.Contains("message_stop", await secondResponse.Content.ReadAsStringAsync().WaitAsync(Bound), StringComparison.Ordinal);
        Assert.Equal(["a", "b"], arrived.ToArray());

        // Each request's log line says whether, how long and why it waited in the gateway.
        await Eventually.TrueAsync(() => Waited(gateway).Count == 2, Bound);
        var waited = Waited(gateway);
        Assert.Contains("no wait", waited);
        Assert.Single(waited, w => w.StartsWith("queued ", StringComparison.Ordinal) && w.EndsWith(" ms: long-prefill-limit", StringComparison.Ordinal));
    }

    private static List<string> Waited(GatewayHost gateway) =>
        gateway.Logs.Lines.Where(l => l.Contains("Route=/v1/messages", StringComparison.Ordinal) && l.Contains(" Waited=", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf(" Waited=", StringComparison.Ordinal) + 8)..l.IndexOf(" RequestBytes=", StringComparison.Ordinal)]).ToList();
}
