using System.Collections.Concurrent;
using System.Net;
using System.Text;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Routing;

/// <summary>
/// The gateway on real Kestrel in front of a fake llama-server that, like llama-server, sends a stream's headers at
/// once and its first event only when the prompt is processed. The cold conversation's prompt is never processed
/// until the test lets it go, so only a pause can let the short request through first.
/// </summary>
public sealed class PrefillPreemptionFunctionalTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    // 40,000 characters of system prompt: ~11 s of prefill at the default 1,000 tokens/s, a long prefill.
    private static readonly string Long =
        $$$"""{"model":"claude-x","max_tokens":1000,"stream":true,"system":"You work in project-long. {{{new string('x', 40_000)}}}","tools":[{"name":"Read","description":"reads","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"}]}""";

    private const string Short =
        """{"model":"claude-x","max_tokens":1000,"stream":true,"system":"You work in project-short.","tools":[{"name":"Read","description":"reads","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"}]}""";

    private const string Chunk = """{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}""";

    private const string Finish = """{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":10800,"completion_tokens":2,"total_tokens":10802}}""";

    private static HttpRequestMessage Post(string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    private static async Task StreamAnswerAsync(HttpContext http)
    {
        await FakeUpstream.WriteEventAsync(http, null, Chunk);
        await FakeUpstream.WriteEventAsync(http, null, Finish);
        await FakeUpstream.WriteEventAsync(http, null, "[DONE]");
    }

    [Fact]
    public async Task Messages_ShortPromptWhileLongPrefillRunsBelow_PausesTheLongOneAndSendsItAgainAfterTheShortOnesFirstEvent()
    {
        var seen = new ConcurrentQueue<string>();
        var shortFirstEvent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstLongEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var longArrivals = 0;
        await using var upstream = await FakeUpstream.StartAsync(async (http, request) =>
        {
            await FakeUpstream.StartStreamAsync(http);
            if (!request.BodyText.Contains("project-long", StringComparison.Ordinal))
            {
                seen.Enqueue("short");
                await FakeUpstream.WriteEventAsync(http, null, Chunk);
                seen.Enqueue("short-first-event");
                shortFirstEvent.TrySetResult();
                await FakeUpstream.WriteEventAsync(http, null, Finish);
                await FakeUpstream.WriteEventAsync(http, null, "[DONE]");
                return;
            }

            if (Interlocked.Increment(ref longArrivals) == 1)
            {
                seen.Enqueue("long");
                try
                {
                    // A prompt that would take longer than the test: only the gateway's pause ends it.
                    await Task.Delay(Bound, http.RequestAborted);
                    seen.Enqueue("long-not-paused");
                }
                catch (OperationCanceledException)
                {
                    seen.Enqueue("long-cancelled");
                }

                firstLongEnded.TrySetResult();
                return;
            }

            seen.Enqueue("long-again");
            await StreamAnswerAsync(http);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:Slots"] = "4",
            ["Gateway:Routing:MaxSlotsPerUser"] = "4",
            ["Gateway:Routing:PreemptLongPrefills"] = "true",
        });

        var longRequest = gateway.Client.SendAsync(Post(Long));
        await Eventually.TrueAsync(() => seen.Contains("long"), Bound);
        using var shortResponse = await gateway.Client.SendAsync(Post(Short)).WaitAsync(Bound);
        using var longResponse = await longRequest.WaitAsync(Bound);
        Assert.Equal(HttpStatusCode.OK, longResponse.StatusCode);
        var longBody = await longResponse.Content.ReadAsStringAsync();

        Assert.Contains("message_stop", await shortResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        // The first attempt was cut off, and the resend waited for the short prompt's first event (its prompt done).
        // The fake's server sees the first attempt's abort on its own schedule, possibly after both answers are in.
        await firstLongEnded.Task.WaitAsync(Bound + Bound);
        var order = seen.ToList();
        Assert.Equal("long", order[0]);
        Assert.Contains("long-cancelled", order);
        Assert.DoesNotContain("long-not-paused", order);
        Assert.True(order.IndexOf("long-again") > order.IndexOf("short-first-event"), string.Join(", ", order));

        // The client of the paused request saw one whole answer, not two starts.
        Assert.Equal(1, Count(longBody, "event: message_start"));
        Assert.Contains("message_stop", longBody, StringComparison.Ordinal);
        Assert.DoesNotContain("event: error", longBody, StringComparison.Ordinal);

        // Sent again byte for byte to the same slot, where llama-server kept what the first attempt processed.
        var sent = upstream.Requests.Where(r => r.BodyText.Contains("project-long", StringComparison.Ordinal)).Select(r => r.BodyText).ToArray();
        Assert.Equal(2, sent.Length);
        Assert.Equal(sent[0], sent[1]);
        Assert.Contains("\"id_slot\":", sent[0], StringComparison.Ordinal);

        await Eventually.TrueAsync(() => gateway.Logs.Lines.Count(l => l.Contains(" Waited=", StringComparison.Ordinal)) == 2, Bound);
        Assert.Single(gateway.Logs.Lines, l => l.Contains(" ms for shorter prompts (1x)", StringComparison.Ordinal) && l.Contains("Status=200", StringComparison.Ordinal));
        // A pause is routine scheduling, not a forwarding error for YARP to warn about with a stack trace.
        Assert.DoesNotContain(gateway.Logs.Lines, l => l.StartsWith("Warning Yarp", StringComparison.Ordinal));
        var metrics = await gateway.Client.GetStringAsync("/metrics");
        Assert.Contains("gateway_prefill_pauses_total{instance=\"fake\"} 1\n", metrics, StringComparison.Ordinal);
        using var status = System.Text.Json.JsonDocument.Parse(await gateway.Client.GetStringAsync("/status.json"));
        Assert.Equal(1, status.RootElement.GetProperty("instances")[0].GetProperty("prefillPauses").GetInt64());
    }

    [Fact]
    public async Task Messages_PreemptionTurnedOff_ShortPromptWaitsAndTheLongOneIsSentOnce()
    {
        var releaseLong = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var longArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var shortArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync(async (http, request) =>
        {
            await FakeUpstream.StartStreamAsync(http);
            if (request.BodyText.Contains("project-long", StringComparison.Ordinal))
            {
                longArrived.TrySetResult();
                await releaseLong.Task.WaitAsync(Bound, http.RequestAborted);
            }
            else
            {
                shortArrived.TrySetResult();
            }

            await StreamAnswerAsync(http);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:Slots"] = "4",
            ["Gateway:Routing:MaxSlotsPerUser"] = "4",
            ["Gateway:Routing:PreemptLongPrefills"] = "false",
        });

        var longRequest = gateway.Client.SendAsync(Post(Long));
        await longArrived.Task.WaitAsync(Bound);
        var shortRequest = gateway.Client.SendAsync(Post(Short));
        await shortArrived.Task.WaitAsync(Bound);
        releaseLong.SetResult();
        using var shortResponse = await shortRequest.WaitAsync(Bound);
        using var longResponse = await longRequest.WaitAsync(Bound);

        Assert.Contains("message_stop", await longResponse.Content.ReadAsStringAsync().WaitAsync(Bound), StringComparison.Ordinal);
        Assert.Single(upstream.Requests, r => r.BodyText.Contains("project-long", StringComparison.Ordinal));
        await Eventually.TrueAsync(() => gateway.Logs.Lines.Count(l => l.Contains(" Waited=", StringComparison.Ordinal)) == 2, Bound);
        Assert.DoesNotContain(gateway.Logs.Lines, l => l.Contains("shorter prompts", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Messages_ResentAfterPauseAndUpstreamRejectsIt_ClientGetsTheErrorInItsOwnFormat()
    {
        var longArrivals = 0;
        var longArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync(async (http, request) =>
        {
            if (!request.BodyText.Contains("project-long", StringComparison.Ordinal))
            {
                await FakeUpstream.StartStreamAsync(http);
                await StreamAnswerAsync(http);
                return;
            }

            if (Interlocked.Increment(ref longArrivals) == 1)
            {
                // Headers out at once, as llama-server sends them at launch.
                await FakeUpstream.StartStreamAsync(http);
                await http.Response.Body.FlushAsync(http.RequestAborted);
                longArrived.TrySetResult();
                await Task.Delay(Bound, http.RequestAborted).ContinueWith(static _ => { }, TaskScheduler.Default);
                return;
            }

            http.Response.StatusCode = 500;
            await http.Response.WriteAsJsonAsync(new { error = new { code = 500, message = "slot went away", type = "server_error" } });
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:Slots"] = "4",
            ["Gateway:Routing:MaxSlotsPerUser"] = "4",
            ["Gateway:Routing:PreemptLongPrefills"] = "true",
        });

        var longRequest = gateway.Client.SendAsync(Post(Long));
        await longArrived.Task.WaitAsync(Bound);
        using var shortResponse = await gateway.Client.SendAsync(Post(Short)).WaitAsync(Bound);
        using var longResponse = await longRequest.WaitAsync(Bound);
        var longBody = await longResponse.Content.ReadAsStringAsync();

        // Nothing of the stream had reached the client, so the resend's failure is a plain error response.
        Assert.Equal(2, longArrivals);
        Assert.Equal(HttpStatusCode.InternalServerError, longResponse.StatusCode);
        Assert.StartsWith("{\"type\":\"error\"", longBody, StringComparison.Ordinal);
        Assert.Contains("slot went away", longBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Messages_ClientLeavesWhilePaused_IsNotSentAgainAndFreesItsSlot()
    {
        var longCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var longArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holdShort = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync(async (http, request) =>
        {
            await FakeUpstream.StartStreamAsync(http);
            if (request.BodyText.Contains("project-long", StringComparison.Ordinal))
            {
                longArrived.TrySetResult();
                await Task.Delay(Bound, http.RequestAborted).ContinueWith(static _ => { }, TaskScheduler.Default);
                longCancelled.TrySetResult();
                return;
            }

            // The short prompt stays "in prefill" until the test is done with the paused request.
            await holdShort.Task.WaitAsync(Bound, http.RequestAborted);
            await StreamAnswerAsync(http);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:Slots"] = "4",
            ["Gateway:Routing:MaxSlotsPerUser"] = "4",
            ["Gateway:Routing:PreemptLongPrefills"] = "true",
        });
        var router = gateway.Service<LlamaGateway.Routing.SlotRouter>();

        using var leave = new CancellationTokenSource();
        var longRequest = gateway.Client.SendAsync(Post(Long), leave.Token);
        await longArrived.Task.WaitAsync(Bound);
        var shortRequest = gateway.Client.SendAsync(Post(Short));
        await longCancelled.Task.WaitAsync(Bound);
        await leave.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => longRequest);

        await Eventually.TrueAsync(() => router.Snapshot().Instances[0].Slots.Count(s => s.Busy) == 1, Bound);
        holdShort.SetResult();
        using var shortResponse = await shortRequest.WaitAsync(Bound);
        Assert.Contains("message_stop", await shortResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Single(upstream.Requests, r => r.BodyText.Contains("project-long", StringComparison.Ordinal));
    }

    private static int Count(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
