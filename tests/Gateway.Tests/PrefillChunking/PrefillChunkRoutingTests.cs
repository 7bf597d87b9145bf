using LlamaGateway.Conversations;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Routing;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Tests.PrefillChunking;

/// <summary>The router's side of chunked prefills: which prompts are chunked, and waiting for shorter prompts between chunks.</summary>
public sealed class PrefillChunkRoutingTests : IDisposable
{
    private readonly ManualTimeProvider _time = new();
    private readonly StaticOptionsMonitor<RoutingOptions> _routing;
    private readonly UpstreamRegistry _registry;
    private readonly ConversationTable _conversations;
    private readonly SlotRouter _router;

    public PrefillChunkRoutingTests()
    {
        var gateway = new GatewayOptions
        {
            Upstreams = [new UpstreamOptions { Name = "a", BaseUrl = "http://127.0.0.1:1", Slots = 4 }],
        };
        _routing = new StaticOptionsMonitor<RoutingOptions>(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4, PrefillChunkSeconds = 0.5 });
        _registry = new UpstreamRegistry(new StaticOptionsMonitor<GatewayOptions>(gateway));
        _conversations = new ConversationTable(_routing, _time);
        _router = new SlotRouter(_registry, _routing, _time);
    }

    public void Dispose()
    {
        _conversations.Dispose();
        _registry.Dispose();
    }

    /// <summary>40,000 characters: ~10,800 tokens at the default 0.27 per character, ~11 s at the default 1,000 tokens/s.</summary>
    private static ConversationFingerprint Long(ulong prefix) => Prompt(prefix, 40_000);

    /// <summary>1,000 characters: ~270 tokens, less than two chunks of 500.</summary>
    private static ConversationFingerprint Short(ulong prefix) => Prompt(prefix, 1_000);

    private static ConversationFingerprint Prompt(ulong prefix, int chars) => new()
    {
        PrefixKey = prefix,
        Chain = [prefix + 1],
        PromptChars = chars,
        PrefixChars = chars * 3 / 4,
        ChainChars = [chars],
        ToolCount = 12,
        Model = "claude-opus",
        MaxTokens = 32_000,
    };

    private async Task<(GatewayRequestContext Request, RoutingLease Lease)> RouteAsync(string user, ConversationFingerprint fingerprint)
    {
        var request = new GatewayRequestContext(ApiRoute.Messages, _time.GetTimestamp()) { User = user, Fingerprint = fingerprint };
        request.Conversation = _conversations.Resolve(fingerprint, user, user, null);
        var task = _router.RouteAsync(request, request.Conversation, CancellationToken.None).AsTask();
        Assert.True(task.IsCompleted, "expected an immediate placement");
        return (request, (await task)!);
    }

    [Fact]
    public async Task PlanPrefillChunks_LongPromptOnAnEmptySlot_ChunksOfHalfASecondAtTheInstancesSpeed()
    {
        var (request, lease) = await RouteAsync("u1", Long(1));

        var plan = _router.PlanPrefillChunks(lease, request.Fingerprint);

        Assert.NotNull(plan);
        Assert.Equal(40_000 * SlotChooser.DefaultTokensPerChar, plan.PromptTokens, 6);
        Assert.Equal(0, plan.ReusableTokens);
        Assert.Equal(500, plan.ChunkTokens, 6);
        Assert.Equal(1_000, plan.TokensPerSecond, 6);
    }

    [Fact]
    public async Task PlanPrefillChunks_LessThanTwoChunksToCompute_Null()
    {
        var (request, lease) = await RouteAsync("u1", Short(1));

        Assert.Null(_router.PlanPrefillChunks(lease, request.Fingerprint));
    }

    /// <summary>6,000 characters: ~1,620 tokens, three chunks of 500 and a bit.</summary>
    private static ConversationFingerprint Medium(ulong prefix) => Prompt(prefix, 6_000);

    [Fact]
    public async Task PlanPrefillChunks_MediumPromptWithNoOtherSlotBusy_Null()
    {
        var (request, lease) = await RouteAsync("u1", Medium(1));

        Assert.Null(_router.PlanPrefillChunks(lease, request.Fingerprint));
    }

    [Fact]
    public async Task PlanPrefillChunks_MediumPromptWithAnotherSlotBusy_Chunks()
    {
        await RouteAsync("u2", Short(2));
        var (request, lease) = await RouteAsync("u1", Medium(1));

        var plan = _router.PlanPrefillChunks(lease, request.Fingerprint);

        Assert.NotNull(plan);
        Assert.Equal(6_000 * SlotChooser.DefaultTokensPerChar, plan.PromptTokens, 6);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(0.5, true)]
    public async Task PlanPrefillChunks_OffOrReplacedByPausing_Null(double chunkSeconds, bool preempt)
    {
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4, PrefillChunkSeconds = chunkSeconds, PreemptLongPrefills = preempt });
        var (request, lease) = await RouteAsync("u1", Long(1));

        Assert.Null(_router.PlanPrefillChunks(lease, request.Fingerprint));
    }

    [Fact]
    public async Task WaitForShorterPrefillsAsync_NothingElsePrefilling_ReturnsAtOnce()
    {
        var (request, lease) = await RouteAsync("u1", Long(1));
        Assert.NotNull(_router.PlanPrefillChunks(lease, request.Fingerprint));

        var wait = _router.WaitForShorterPrefillsAsync(lease, TimeSpan.FromSeconds(10), CancellationToken.None).AsTask();

        Assert.True(wait.IsCompleted);
        Assert.Equal(TimeSpan.Zero, await wait);
    }

    [Fact]
    public async Task WaitForShorterPrefillsAsync_ShortPromptOnAnotherSlot_ReturnsOnceItsFirstOutputArrives()
    {
        var (longRequest, longLease) = await RouteAsync("u1", Long(1));
        Assert.NotNull(_router.PlanPrefillChunks(longLease, longRequest.Fingerprint));
        var (_, shortLease) = await RouteAsync("u2", Short(2));

        var wait = _router.WaitForShorterPrefillsAsync(longLease, TimeSpan.FromSeconds(10), CancellationToken.None).AsTask();
        Assert.False(wait.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(0.3));
        Assert.False(wait.IsCompleted);

        shortLease.PrefillDone();
        Assert.Equal(TimeSpan.FromSeconds(0.3), await wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task WaitForShorterPrefillsAsync_ShortRequestEndsWithoutOutput_Returns()
    {
        var (longRequest, longLease) = await RouteAsync("u1", Long(1));
        Assert.NotNull(_router.PlanPrefillChunks(longLease, longRequest.Fingerprint));
        var (_, shortLease) = await RouteAsync("u2", Short(2));

        var wait = _router.WaitForShorterPrefillsAsync(longLease, TimeSpan.FromSeconds(10), CancellationToken.None).AsTask();
        Assert.False(wait.IsCompleted);
        shortLease.Dispose();

        await wait.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task WaitForShorterPrefillsAsync_BudgetSpent_ReturnsWithTheShortPromptStillPrefilling()
    {
        var (longRequest, longLease) = await RouteAsync("u1", Long(1));
        Assert.NotNull(_router.PlanPrefillChunks(longLease, longRequest.Fingerprint));
        await RouteAsync("u2", Short(2));

        var wait = _router.WaitForShorterPrefillsAsync(longLease, TimeSpan.FromSeconds(2), CancellationToken.None).AsTask();
        await Eventually.TrueAsync(() => _time.ArmedTimers > 0, TimeSpan.FromSeconds(10));
        _time.Advance(TimeSpan.FromSeconds(1.9));
        Assert.False(wait.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(0.1));

        Assert.Equal(TimeSpan.FromSeconds(2), await wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task WaitForShorterPrefillsAsync_OnlyAnotherChunkedPrefill_DoesNotWaitForIt()
    {
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4, PrefillChunkSeconds = 0.5, MaxLongPrefillsPerInstance = 2 });
        var (firstRequest, first) = await RouteAsync("u1", Long(1));
        var (secondRequest, second) = await RouteAsync("u2", Long(2));
        Assert.NotNull(_router.PlanPrefillChunks(first, firstRequest.Fingerprint));

        // Not yet chunked, the second long prompt is one a chunked prefill gives way to.
        Assert.False(_router.WaitForShorterPrefillsAsync(first, TimeSpan.FromSeconds(10), CancellationToken.None).AsTask().IsCompleted);
        Assert.NotNull(_router.PlanPrefillChunks(second, secondRequest.Fingerprint));

        Assert.True(_router.WaitForShorterPrefillsAsync(first, TimeSpan.FromSeconds(10), CancellationToken.None).AsTask().IsCompleted);
        Assert.True(_router.WaitForShorterPrefillsAsync(second, TimeSpan.FromSeconds(10), CancellationToken.None).AsTask().IsCompleted);
    }

    [Fact]
    public async Task WaitForShorterPrefillsAsync_ClientLeaves_Throws()
    {
        var (longRequest, longLease) = await RouteAsync("u1", Long(1));
        Assert.NotNull(_router.PlanPrefillChunks(longLease, longRequest.Fingerprint));
        await RouteAsync("u2", Short(2));
        using var client = new CancellationTokenSource();

        var wait = _router.WaitForShorterPrefillsAsync(longLease, TimeSpan.FromSeconds(10), client.Token).AsTask();
        await client.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
