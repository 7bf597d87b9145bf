using LlamaGateway.Hosting;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Logging.Abstractions;

namespace LlamaGateway.Tests.Reliability;

public sealed class ProbeTimeoutTests
{
    private readonly ManualTimeProvider _time = new();
    private readonly UpstreamInstance _instance = new(new UpstreamOptions { Name = "u0", BaseUrl = "http://127.0.0.1:1" });
    private readonly UpstreamHealth _health;

    public ProbeTimeoutTests()
    {
        _health = new UpstreamHealth(new StaticOptionsMonitor<GatewayOptions>(new GatewayOptions()), _time, NullLogger<UpstreamHealth>.Instance);
    }

    [Fact]
    public void ProbeTimedOut_RequestInFlight_StaysInRouting()
    {
        _instance.RequestStarted();

        _health.ProbeTimedOut(_instance, "timed out");

        Assert.True(_instance.IsHealthy);
    }

    [Fact]
    public void ProbeTimedOut_AnsweredWithinTheGrace_StaysInRouting()
    {
        _health.Answered(_instance);
        _time.Advance(UpstreamHealth.BusyGrace - TimeSpan.FromSeconds(1));

        _health.ProbeTimedOut(_instance, "timed out");

        Assert.True(_instance.IsHealthy);
    }

    [Fact]
    public void ProbeTimedOut_IdleAndSilentSinceTheGrace_TakenOut()
    {
        _health.Answered(_instance);
        _time.Advance(UpstreamHealth.BusyGrace + TimeSpan.FromSeconds(1));

        _health.ProbeTimedOut(_instance, "timed out");

        Assert.False(_instance.IsHealthy);
        Assert.Equal("timed out", _instance.LastError);
    }

    [Fact]
    public void ProbeTimedOut_NeverAnswered_TakenOut()
    {
        _health.ProbeTimedOut(_instance, "timed out");

        Assert.False(_instance.IsHealthy);
    }

    [Fact]
    public void ProbeFailed_RefusedWhileBusy_TakenOutAtOnce()
    {
        _instance.RequestStarted();

        _health.ProbeFailed(_instance, "connection refused");

        Assert.False(_instance.IsHealthy);
    }
}
