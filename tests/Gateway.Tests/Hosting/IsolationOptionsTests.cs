using LlamaGateway.Hosting;
using LlamaGateway.Routing;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Logging;

namespace LlamaGateway.Tests.Hosting;

/// <summary>Gateway:Isolation is validated at start-up and read once: a reload does not change it.</summary>
public sealed class IsolationOptionsTests
{
    private static GatewayOptions Options(string isolation, string dialect = "openai") => new()
    {
        Isolation = isolation,
        Upstreams = [new UpstreamOptions { Name = "a", BaseUrl = "http://127.0.0.1:8080", Dialect = dialect }],
    };

    [Theory]
    [InlineData("Shared")]
    [InlineData("PerUser")]
    [InlineData("peruser")]
    public void Validate_KnownMode_Succeeds(string isolation)
    {
        Assert.True(new GatewayOptionsValidator().Validate(null, Options(isolation)).Succeeded);
    }

    [Theory]
    [InlineData("per-user")]
    [InlineData("1")]
    [InlineData("")]
    public void Validate_UnknownMode_FailsNamingTheKeyAndTheModes(string isolation)
    {
        var result = new GatewayOptionsValidator().Validate(null, Options(isolation));

        Assert.False(result.Succeeded);
        Assert.Contains($"Gateway:Isolation must be Shared or PerUser, got \"{isolation}\"", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_PerUserWithAnAnthropicDialectUpstream_FailsNamingTheUpstream()
    {
        var result = new GatewayOptionsValidator().Validate(null, Options("PerUser", "anthropic"));

        Assert.False(result.Succeeded);
        Assert.Contains("Gateway:Isolation PerUser needs Gateway:Upstreams:0:Dialect \"openai\"", result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new GatewayOptionsValidator().Validate(null, Options("Shared", "anthropic")).Succeeded);
    }

    [Fact]
    public void Reload_ChangedMode_KeepsTheStartUpModeAndWarns()
    {
        var monitor = new StaticOptionsMonitor<GatewayOptions>(Options("PerUser"));
        var logs = new TestLogSink();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        using var isolation = new CacheIsolation(monitor, factory.CreateLogger<CacheIsolation>());

        monitor.Set(Options("Shared"));

        Assert.Equal(IsolationMode.PerUser, isolation.Mode);
        Assert.True(isolation.ScopeFor("alice").PerUser);
        Assert.Contains(logs.Lines, l => l.Contains("Gateway:Isolation changed to Shared", StringComparison.Ordinal) && l.Contains("keeps PerUser until it restarts", StringComparison.Ordinal));
    }
}
