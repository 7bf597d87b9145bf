using System.Net;
using LlamaGateway.Reliability;
using LlamaGateway.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// Stopping the gateway: new connections are refused, running streams get <c>Gateway:Shutdown:DrainSeconds</c> to
/// finish, and those still running then end with an error event in their client's dialect.
/// </summary>
public sealed class ShutdownTests
{
    private static Dictionary<string, string?> Settings(string drainSeconds) => new()
    {
        ["Gateway:Shutdown:DrainSeconds"] = drainSeconds,
        ["Gateway:Health:FailureThreshold"] = "100",
    };

    [Fact]
    public async Task Stop_StreamFinishesWithinDrainTime_ClientGetsTheWholeStreamAndNewConnectionsAreRefused()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            await Traffic.WriteFirstEventAsync(http, StreamPath.TranslatedAnthropic);
            await release.Task.WaitAsync(Traffic.Bound);
            await Traffic.WriteDeltaAsync(http, StreamPath.TranslatedAnthropic, "after the stop");
            await Traffic.WriteEndAsync(http, StreamPath.TranslatedAnthropic);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings("10"));
        var shutdown = gateway.Service<GatewayShutdown>();

        using var response = await gateway.Client.SendAsync(Traffic.Request(StreamPath.TranslatedAnthropic), HttpCompletionOption.ResponseHeadersRead);
        using var events = new SseClient(await response.Content.ReadAsStreamAsync());
        Assert.NotNull(await events.NextEventAsync().WaitAsync(Traffic.Bound));

        var stop = gateway.App.StopAsync();
        await Poll.UntilAsync(() => shutdown.IsStopping, "the stop to begin");
        using (var fresh = new HttpClient { BaseAddress = new Uri(gateway.BaseUrl), Timeout = TimeSpan.FromSeconds(5) })
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => fresh.GetAsync("/healthz"));
        }

        Assert.False(stop.IsCompleted);
        release.SetResult();
        var rest = await events.ReadAllAsync().WaitAsync(Traffic.Bound);

        Traffic.AssertCompleted(rest, StreamPath.TranslatedAnthropic);
        Assert.Contains(rest, e => e.Contains("after the stop", StringComparison.Ordinal));
        await stop.WaitAsync(Traffic.Bound);
    }

    [Theory]
    [InlineData(StreamPath.TranslatedAnthropic)]
    [InlineData(StreamPath.OpenAiPassThrough)]
    [InlineData(StreamPath.AnthropicPassThrough)]
    public async Task Stop_StreamOutlivesDrainTime_EndsWithShuttingDownErrorEventInItsDialect(StreamPath path)
    {
        var upstreamCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            await Traffic.WriteFirstEventAsync(http, path);
            try
            {
                await Task.Delay(Timeout.Infinite, http.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                upstreamCancelled.TrySetResult();
            }
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings("0.5"), Traffic.UpstreamDialect(path));

        using var response = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead);
        using var events = new SseClient(await response.Content.ReadAsStreamAsync());
        var first = await events.NextEventAsync().WaitAsync(Traffic.Bound);

        var started = System.Diagnostics.Stopwatch.StartNew();
        var stop = gateway.App.StopAsync();
        var rest = await events.ReadAllAsync().WaitAsync(Traffic.Bound);
        rest.Insert(0, first!);

        var (type, message) = Traffic.AssertEndsWithError(rest, path);
        Assert.Equal(Traffic.ClientIsAnthropic(path) ? "overloaded_error" : "unavailable_error", type);
        Assert.Contains("Gateway:Shutdown:DrainSeconds", message);
        await stop.WaitAsync(Traffic.Bound);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(4), $"stop took {started.Elapsed}");

        // The upstream request was cancelled too, so llama-server stops generating and frees the slot.
        await upstreamCancelled.Task.WaitAsync(Traffic.Bound);
    }

    [Fact]
    public async Task Stop_NonStreamedRequestOutlivesDrainTime_Gets503ShuttingDown()
    {
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) => await Task.Delay(Timeout.Infinite, http.RequestAborted));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, Settings("0.3"));

        var pending = gateway.Client.SendAsync(Traffic.Request(StreamPath.OpenAiPassThrough, stream: false));
        await Poll.UntilAsync(() => upstream.Requests.Count == 1, "the request to reach the upstream");
        var stop = gateway.App.StopAsync();
        using var response = await pending.WaitAsync(Traffic.Bound);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var (_, message) = await Traffic.ErrorBodyAsync(response, anthropic: false);
        Assert.Contains("shutting down", message);
        await stop.WaitAsync(Traffic.Bound);
    }

    [Fact]
    public async Task HostShutdownTimeout_IsDrainTimePlusGrace()
    {
        await using var gateway = await GatewayHost.StartAsync(Ports.DeadUrl(), Settings("12"));

        var host = gateway.App.Services.GetRequiredService<IOptions<HostOptions>>().Value;

        Assert.Equal(TimeSpan.FromSeconds(12) + GatewayShutdown.Grace, host.ShutdownTimeout);
    }
}
