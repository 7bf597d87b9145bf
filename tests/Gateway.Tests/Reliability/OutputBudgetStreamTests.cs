using System.Net;
using System.Text;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// An upstream that keeps streaming past the request's output budget (it ignores <c>n_predict</c>) is cut off by the
/// gateway: the caller gets an error event and the upstream request is cancelled, so its slot frees.
/// </summary>
public sealed class OutputBudgetStreamTests
{
    private const int Cap = 40;

    private static Dictionary<string, string?> Settings() => new()
    {
        ["Gateway:Upstreams:0:MaxOutputTokens"] = Cap.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Gateway:Health:FailureThreshold"] = "100",
    };

    /// <summary>Streams content events without end until the gateway goes away; reports how many it wrote and that it was cancelled.</summary>
    private sealed class EndlessUpstream
    {
        private int _written;

        public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Written => Volatile.Read(ref _written);

        public async Task HandleAsync(HttpContext http, StreamPath path)
        {
            try
            {
                await Traffic.WriteFirstEventAsync(http, path);
                while (true)
                {
                    await Traffic.WriteDeltaAsync(http, path, "token ");
                    Interlocked.Increment(ref _written);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException || http.RequestAborted.IsCancellationRequested)
            {
                Cancelled.TrySetResult();
            }
        }
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    public async Task Stream_UpstreamIgnoresTheBudget_EndedWithAnErrorEventAndTheUpstreamCancelled(StreamPath path)
    {
        var endless = new EndlessUpstream();
        await using var upstream = await FakeUpstream.StartAsync((http, _) => endless.HandleAsync(http, path));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(), Traffic.UpstreamDialect(path));

        using var response = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = await Traffic.ReadStreamAsync(response);

        var (_, message) = Traffic.AssertEndsWithError(events, path);
        Assert.Contains($"output budget of {Cap} tokens", message);
        var content = events.Count(e => e.Contains("token ", StringComparison.Ordinal));
        Assert.InRange(content, Cap, Cap + 16);
        await endless.Cancelled.Task.WaitAsync(Traffic.Bound);
        await Leaks.AssertNoneAsync(gateway);
    }

    [Fact]
    public async Task Stream_CompletionRouteUpstreamIgnoresNPredict_EndedWithAnErrorEvent()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            try
            {
                await FakeUpstream.StartStreamAsync(http);
                while (true)
                {
                    await FakeUpstream.WriteEventAsync(http, null, """{"content":"token ","stop":false}""");
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException || http.RequestAborted.IsCancellationRequested)
            {
                cancelled.TrySetResult();
            }
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?> { ["Gateway:Health:FailureThreshold"] = "100" });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/completion")
        {
            Content = new StringContent("""{"prompt":"hi","stream":true,"n_predict":25}""", Encoding.UTF8, "application/json"),
        };

        using var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var events = await Traffic.ReadStreamAsync(response);

        var (_, message) = Traffic.AssertEndsWithError(events, StreamPath.OpenAiPassThrough);
        Assert.Contains("output budget of 25 tokens", message);
        Assert.InRange(events.Count - 1, 25, 25 + 16);
        await cancelled.Task.WaitAsync(Traffic.Bound);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    public async Task Stream_UpstreamStopsAtTheBudget_CompletesNormally(StreamPath path)
    {
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            await Traffic.WriteFirstEventAsync(http, path);
            for (var i = 1; i < Cap; i++)
            {
                await Traffic.WriteDeltaAsync(http, path, "token ");
            }

            await Traffic.WriteEndAsync(http, path);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings(), Traffic.UpstreamDialect(path));

        using var response = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead);
        var events = await Traffic.ReadStreamAsync(response);

        Traffic.AssertCompleted(events, path);
    }
}
