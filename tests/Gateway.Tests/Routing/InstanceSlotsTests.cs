using LlamaGateway.Hosting;
using LlamaGateway.Routing;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Tests.Routing;

public sealed class InstanceSlotsTests : IDisposable
{
    private readonly UpstreamRegistry _registry;
    private readonly InstanceSlots _pool;

    public InstanceSlotsTests()
    {
        var gateway = new GatewayOptions { Upstreams = [new UpstreamOptions { Name = "a", BaseUrl = "http://127.0.0.1:1", Slots = 4 }] };
        _registry = new UpstreamRegistry(new StaticOptionsMonitor<GatewayOptions>(gateway));
        _pool = new InstanceSlots(_registry.Instances[0]);
    }

    public void Dispose() => _registry.Dispose();

    [Fact]
    public void ObserveUsage_TinyRequestWithTemplateOverhead_BarelyMovesTokensPerChar()
    {
        _pool.ObserveUsage(15_000, 10_000, 15_000, 55_000, 10);

        // A quota probe: 5 characters of prompt, 30 tokens once the chat template is applied (6 tokens per character).
        _pool.ObserveUsage(30, 50, 30, 5, 1);

        Assert.InRange(_pool.TokensPerChar, 0.27, 0.28);
    }

    [Fact]
    public void ObserveUsage_QuotaProbeIsTheFirstRequestSeen_TokensPerCharStaysNearTheDefault()
    {
        _pool.ObserveUsage(30, 50, 30, 5, 1);

        Assert.InRange(_pool.TokensPerChar, 0.27, 0.29);
    }

    [Fact]
    public void ObserveUsage_FirstRealPrompts_LearnTheirOwnRatio()
    {
        _pool.ObserveUsage(30, 50, 30, 5, 1);
        for (var i = 0; i < 3; i++)
        {
            // A main turn: 55,000 characters, 11,000 tokens (0.2 per character).
            _pool.ObserveUsage(11_000, 8_000, 11_000, 55_000, 10);
        }

        Assert.InRange(_pool.TokensPerChar, 0.2, 0.21);
    }

    [Fact]
    public void ObserveUsage_ShortSuffixThatSharedItsBatches_BarelyMovesPrefillSpeed()
    {
        _pool.ObserveUsage(10_000, 10_000, 15_000, 55_000, 10);

        // 100 tokens whose prompt time included another slot's prefill in the same batches: 50 tokens/s on its own.
        _pool.ObserveUsage(100, 2_000, 15_100, 55_400, 2);

        Assert.InRange(_pool.PrefillTokensPerSecond, 980, 1_000);
    }

    [Fact]
    public void ObserveUsage_SpeedChangesForGood_FollowsWithinAFewRequests()
    {
        _pool.ObserveUsage(10_000, 10_000, 15_000, 55_000, 10);

        for (var i = 0; i < 10; i++)
        {
            _pool.ObserveUsage(10_000, 20_000, 15_000, 55_000, 20);
        }

        Assert.InRange(_pool.PrefillTokensPerSecond, 500, 520);
    }
}
