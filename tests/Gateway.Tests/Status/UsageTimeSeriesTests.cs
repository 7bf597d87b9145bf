using LlamaGateway.Pipeline;
using LlamaGateway.Status;
using LlamaGateway.Tests.Support;
using LlamaGateway.Usage;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Tests.Status;

public sealed class UsageTimeSeriesTests
{
    private readonly ManualTimeProvider _time = new();
    private readonly UsageLedger _ledger = new();

    private UsageTimeSeries Series(double sampleSeconds = 10, double historyMinutes = 1) =>
        new(_ledger, Options.Create(new StatusOptions { SampleSeconds = sampleSeconds, HistoryMinutes = historyMinutes }), _time);

    private void Finish(int prompt, int cached, int output)
    {
        using var request = new GatewayRequestContext(ApiRoute.Messages, _time.GetTimestamp());
        request.Usage.PromptTokens = prompt;
        request.Usage.CachedTokens = cached;
        request.Usage.OutputTokens = output;
        _ledger.Record(request);
    }

    [Fact]
    public void Sample_AfterRequests_PointHoldsIntervalDeltas()
    {
        var series = Series();
        Finish(prompt: 1000, cached: 900, output: 10);
        Finish(prompt: 1000, cached: 700, output: 10);
        _time.Advance(TimeSpan.FromSeconds(10));
        series.Sample();
        Finish(prompt: 400, cached: 0, output: 5);
        _time.Advance(TimeSpan.FromSeconds(10));
        series.Sample();

        var (points, current) = series.Snapshot();

        Assert.Equal(2, points.Count);
        Assert.Equal(2, points[0].Requests);
        Assert.Equal(2000, points[0].PromptTokens);
        Assert.Equal(1600, points[0].CachedTokens);
        Assert.Equal(400, points[0].RecomputedTokens);
        Assert.Equal(0.8, points[0].CacheHitRatio);
        Assert.Equal(10, points[0].Seconds);
        Assert.Equal(400, points[1].RecomputedTokens);
        Assert.Equal(0.0, points[1].CacheHitRatio);
        Assert.Equal(_time.GetUtcNow(), points[1].At);
        Assert.Equal(0, current.Requests);
        Assert.Null(current.CacheHitRatio);
    }

    [Fact]
    public void Snapshot_BeforeSampling_CurrentShowsIntervalSoFar()
    {
        var series = Series();
        Finish(prompt: 100, cached: 25, output: 1);
        _time.Advance(TimeSpan.FromSeconds(4));

        var (points, current) = series.Snapshot();

        Assert.Empty(points);
        Assert.Equal(1, current.Requests);
        Assert.Equal(0.25, current.CacheHitRatio);
        Assert.Equal(4, current.Seconds);
    }

    [Fact]
    public void Sample_PastHistory_DropsOldestPoints()
    {
        var series = Series(sampleSeconds: 10, historyMinutes: 1);
        for (var i = 0; i < 10; i++)
        {
            Finish(prompt: i + 1, cached: 0, output: 0);
            _time.Advance(TimeSpan.FromSeconds(10));
            series.Sample();
        }

        var (points, _) = series.Snapshot();

        Assert.Equal(6, series.Capacity);
        Assert.Equal([5, 6, 7, 8, 9, 10], points.Select(p => p.PromptTokens).ToArray());
    }

    [Fact]
    public async Task ExecuteAsync_TimerTicks_SamplesEachInterval()
    {
        var series = Series(sampleSeconds: 10);
        await series.StartAsync(CancellationToken.None);
        try
        {
            Finish(prompt: 10, cached: 5, output: 1);
            await ManualClock.AdvanceUntilAsync(_time, TimeSpan.FromSeconds(10), () => series.Snapshot().Points.Count >= 1);

            Assert.Equal(1, series.Snapshot().Points[0].Requests);
        }
        finally
        {
            await series.StopAsync(CancellationToken.None);
        }
    }
}
