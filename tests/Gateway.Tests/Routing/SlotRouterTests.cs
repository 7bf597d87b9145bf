using LlamaGateway.Conversations;
using LlamaGateway.Errors;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Routing;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Tests.Routing;

public sealed class SlotRouterTests : IDisposable
{
    private const ulong SharedPrefix = 0xABCDEF;
    private readonly ManualTimeProvider _time = new();
    private readonly StaticOptionsMonitor<RoutingOptions> _routing;
    private readonly UpstreamRegistry _registry;
    private readonly ConversationTable _conversations;
    private readonly SlotRouter _router;

    public SlotRouterTests()
    {
        var gateway = new GatewayOptions
        {
            Upstreams = [new UpstreamOptions { Name = "a", BaseUrl = "http://127.0.0.1:1", Slots = 4 }],
        };
        _routing = new StaticOptionsMonitor<RoutingOptions>(new RoutingOptions());
        _registry = new UpstreamRegistry(new StaticOptionsMonitor<GatewayOptions>(gateway));
        _conversations = new ConversationTable(_routing, _time);
        _router = new SlotRouter(_registry, _routing, _time);
    }

    public void Dispose()
    {
        _conversations.Dispose();
        _registry.Dispose();
    }

    private static ConversationFingerprint Fingerprint(ulong prefix, int maxTokens, params ulong[] chain) => new()
    {
        PrefixKey = prefix,
        Chain = chain,
        PromptChars = 40_000,
        PrefixChars = 30_000,
        ChainChars = chain.Select((_, i) => 30_000 + ((i + 1) * 10_000 / chain.Length)).ToArray(),
        ToolCount = 12,
        Model = "claude-opus",
        MaxTokens = maxTokens,
    };

    private GatewayRequestContext Request(string? user, ConversationFingerprint fingerprint)
    {
        var request = new GatewayRequestContext(ApiRoute.Messages, _time.GetTimestamp()) { User = user, Fingerprint = fingerprint };
        if (RequestClassifier.Classify(request.Route, fingerprint) == RequestKind.Conversation)
        {
            request.Conversation = _conversations.Resolve(fingerprint, user, user, null);
        }

        return request;
    }

    private async Task<RoutingLease> RouteNowAsync(GatewayRequestContext request)
    {
        var task = _router.RouteAsync(request, request.Conversation, CancellationToken.None).AsTask();
        Assert.True(task.IsCompleted, "expected an immediate placement");
        return (await task)!;
    }

    /// <summary>Finishes a request as if the upstream processed its prompt, so the slot remembers it.</summary>
    private static void Finish(GatewayRequestContext request, RoutingLease lease, int promptTokens, int cachedTokens)
    {
        request.UpstreamResponded = true;
        request.Usage.PromptTokens = promptTokens;
        request.Usage.CachedTokens = cachedTokens;
        request.Usage.OutputTokens = 10;
        request.Usage.PromptMilliseconds = -1;
        lease.Dispose();
    }

    [Fact]
    public async Task RouteAsync_NextTurnOfConversation_ReturnsToItsOwnSlot()
    {
        var turn1 = Request("alice", Fingerprint(SharedPrefix, 32_000, 1));
        var lease1 = await RouteNowAsync(turn1);
        Finish(turn1, lease1, 11_000, 0);

        // Another conversation in between must not take it over.
        var other = Request("bob", Fingerprint(0x999, 32_000, 50));
        var otherLease = await RouteNowAsync(other);
        Assert.NotEqual(lease1.Slot, otherLease.Slot);

        var turn2 = Request("alice", Fingerprint(SharedPrefix, 32_000, 1, 2, 3));
        var lease2 = await RouteNowAsync(turn2);

        Assert.Same(turn1.Conversation, turn2.Conversation);
        Assert.Equal(lease1.Slot, lease2.Slot);
        Assert.Equal("own-slot", lease2.Reason);
    }

    [Fact]
    public async Task RouteAsync_NewConversationWithKnownSystemPrompt_GoesToSlotHoldingIt()
    {
        _routing.Set(new RoutingOptions { CacheValueHalfLifeMinutes = 1 });
        var first = Request("alice", Fingerprint(SharedPrefix, 32_000, 1));
        var firstLease = await RouteNowAsync(first);
        Finish(first, firstLease, 11_000, 0);
        _time.Advance(TimeSpan.FromMinutes(30));

        var second = Request("alice", Fingerprint(SharedPrefix, 32_000, 77));
        var secondLease = await RouteNowAsync(second);

        Assert.NotSame(first.Conversation, second.Conversation);
        Assert.Equal(firstLease.Slot, secondLease.Slot);
        Assert.Equal("prefix-match", secondLease.Reason);
    }

    [Theory]
    [InlineData("bob", "empty-slot")]
    [InlineData("alice", "prefix-match")]
    public async Task RouteAsync_NewConversationWhileSystemPromptHolderIsActive_SharesOnlyWithItsOwnClient(string newcomer, string expectedReason)
    {
        var first = Request("alice", Fingerprint(SharedPrefix, 32_000, 1));
        var firstLease = await RouteNowAsync(first);
        Finish(first, firstLease, 11_000, 0);

        var second = Request(newcomer, Fingerprint(SharedPrefix, 32_000, 77));
        var secondLease = await RouteNowAsync(second);

        // Another person's active conversation would lose its tail on every alternation, so an empty slot (paid once)
        // is cheaper; the same client's previous conversation is likely done, so its system prompt is reused.
        Assert.Equal(expectedReason, secondLease.Reason);
        Assert.Equal(expectedReason == "prefix-match", firstLease.Slot == secondLease.Slot);
    }

    [Theory]
    [InlineData(100, true)]
    [InlineData(1_000_000, false)]
    public async Task RouteAsync_OwnSlotBusy_WaitsOnlyWhenWaitingIsCheaperThanRecomputing(double prefillTokensPerSecond, bool expectWait)
    {
        _routing.Set(new RoutingOptions { DefaultPrefillTokensPerSecond = prefillTokensPerSecond });
        var turn1 = Request("alice", Fingerprint(SharedPrefix, 32_000, 1));
        Finish(turn1, await RouteNowAsync(turn1), 11_000, 0);
        var running = Request("alice", Fingerprint(SharedPrefix, 32_000, 1, 2, 3));
        var runningLease = await RouteNowAsync(running);

        var concurrent = Request("alice", Fingerprint(SharedPrefix, 32_000, 1, 2, 3));
        var pending = _router.RouteAsync(concurrent, concurrent.Conversation, CancellationToken.None).AsTask();

        Assert.Equal(expectWait, !pending.IsCompleted);
        if (expectWait)
        {
            // Once the slot frees, the waiting turn gets its own slot back.
            runningLease.Dispose();
            var lease = await pending.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(runningLease.Slot, lease!.Slot);
            Assert.Equal("own-slot", lease.Reason);
        }
        else
        {
            var lease = await pending;
            Assert.NotEqual(runningLease.Slot, lease!.Slot);
            Assert.Equal("repinned", lease.Reason);
        }
    }

    [Fact]
    public async Task RouteAsync_OwnSlotStaysBusyPastItsBudget_RepinsToIdleSlot()
    {
        // At 100 tokens/s every placement here is a long prefill; the limit on those is not under test.
        _routing.Set(new RoutingOptions { DefaultPrefillTokensPerSecond = 100, MaxLongPrefillsPerInstance = 4 });
        var turn1 = Request("alice", Fingerprint(SharedPrefix, 32_000, 1));
        Finish(turn1, await RouteNowAsync(turn1), 11_000, 0);
        var running = Request("alice", Fingerprint(SharedPrefix, 32_000, 1, 2, 3));
        var runningLease = await RouteNowAsync(running);
        var concurrent = Request("alice", Fingerprint(SharedPrefix, 32_000, 1, 2, 3));
        var pending = _router.RouteAsync(concurrent, concurrent.Conversation, CancellationToken.None).AsTask();
        Assert.False(pending.IsCompleted);
        await Eventually.TrueAsync(() => _time.ArmedTimers > 0);

        _time.Advance(TimeSpan.FromMinutes(2));

        var lease = await pending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotEqual(runningLease.Slot, lease!.Slot);
        Assert.Equal("repinned", lease.Reason);
        Assert.Equal(1, concurrent.Conversation!.Repins);
    }

    [Fact]
    public async Task RouteAsync_SideRequest_UsesSideLaneAndNeverAConversationSlot()
    {
        _routing.Set(new RoutingOptions { SideLaneSlots = 1 });
        var quota = Request("alice", Fingerprint(0x42, 1, 9));
        var quotaLease = await RouteNowAsync(quota);
        Assert.Equal(3, quotaLease.Slot);
        Assert.Equal("side-lane", quotaLease.Reason);

        var second = Request("alice", Fingerprint(0x42, 1, 10));
        var pending = _router.RouteAsync(second, null, CancellationToken.None).AsTask();
        Assert.False(pending.IsCompleted);
        quotaLease.Dispose();
        var lease = await pending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3, lease!.Slot);
    }

    [Fact]
    public async Task RouteAsync_UserAtSlotCap_WaitsWhileOtherUsersProceed()
    {
        // Cold prompts running side by side: the limit on long prefills is not under test.
        _routing.Set(new RoutingOptions { MaxSlotsPerUser = 2, MaxLongPrefillsPerInstance = 4 });
        var a1 = await RouteNowAsync(Request("alice", Fingerprint(1, 32_000, 11)));
        var a2 = await RouteNowAsync(Request("alice", Fingerprint(2, 32_000, 12)));

        var a3 = Request("alice", Fingerprint(3, 32_000, 13));
        var pending = _router.RouteAsync(a3, a3.Conversation, CancellationToken.None).AsTask();
        var bob = await RouteNowAsync(Request("bob", Fingerprint(4, 32_000, 14)));

        Assert.False(pending.IsCompleted);
        Assert.NotNull(bob.Slot);
        a1.Dispose();
        var lease = await pending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(a1.Slot, lease!.Slot);
        a2.Dispose();
    }

    [Fact]
    public async Task RouteAsync_QueuedTooLong_ReturnsNullWithOverloadedReason()
    {
        _routing.Set(new RoutingOptions { MaxQueueSeconds = 30, SideLaneSlots = 0, MaxSlotsPerUser = 8, MaxLongPrefillsPerInstance = 4 });
        var leases = new List<RoutingLease>();
        for (var i = 0; i < 4; i++)
        {
            leases.Add(await RouteNowAsync(Request("u" + i, Fingerprint((ulong)i + 100, 32_000, (ulong)i))));
        }

        var late = Request("late", Fingerprint(555, 32_000, 5));
        var pending = _router.RouteAsync(late, late.Conversation, CancellationToken.None).AsTask();
        await Eventually.TrueAsync(() => _time.ArmedTimers > 0);
        _time.Advance(TimeSpan.FromSeconds(31));

        Assert.Null(await pending.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(ApiErrorKind.Overloaded, late.FailureKind);
        Assert.Contains("MaxQueueSeconds", late.FailureMessage);
        Assert.Equal(0, _router.QueueLength);
    }

    [Fact]
    public async Task RouteAsync_CancelledWhileQueued_LeavesNoBusySlotOrQueueEntry()
    {
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 8, MaxLongPrefillsPerInstance = 4 });
        var leases = new List<RoutingLease>();
        for (var i = 0; i < 4; i++)
        {
            leases.Add(await RouteNowAsync(Request("u" + i, Fingerprint((ulong)i + 100, 32_000, (ulong)i))));
        }

        using var cancel = new CancellationTokenSource();
        var queued = Request("late", Fingerprint(555, 32_000, 5));
        var pending = _router.RouteAsync(queued, queued.Conversation, cancel.Token).AsTask();
        Assert.Equal(1, _router.QueueLength);
        cancel.Cancel();
        Assert.Null(await pending.WaitAsync(TimeSpan.FromSeconds(10)));

        foreach (var lease in leases)
        {
            lease.Dispose();
        }

        Assert.Equal(0, _router.QueueLength);
        Assert.All(_router.Snapshot().Instances[0].Slots, slot => Assert.False(slot.Busy));
    }

    /// <summary>Four conversations have each run a turn on their own slot and are all running their next one.</summary>
    private async Task<(GatewayRequestContext[] Requests, RoutingLease[] Leases)> FillSlotsWithWarmConversationsAsync()
    {
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4 });
        for (var i = 0; i < 4; i++)
        {
            var first = Request("u" + i, Fingerprint(100 + (ulong)i, 32_000, (ulong)(i * 10) + 1));
            Finish(first, await RouteNowAsync(first), 10_000, 0);
        }

        var requests = new GatewayRequestContext[4];
        var leases = new RoutingLease[4];
        for (var i = 0; i < 4; i++)
        {
            requests[i] = Request("u" + i, Fingerprint(100 + (ulong)i, 32_000, (ulong)(i * 10) + 1, (ulong)(i * 10) + 2));
            leases[i] = await RouteNowAsync(requests[i]);
        }

        return (requests, leases);
    }

    [Fact]
    public async Task RouteAsync_SlotFreesWhileNewConversationQueuedFirst_ServesTheWarmFollowUpFirst()
    {
        var (requests, leases) = await FillSlotsWithWarmConversationsAsync();
        var newcomer = Request("new", Fingerprint(999, 32_000, 9));
        var pendingNew = _router.RouteAsync(newcomer, newcomer.Conversation, CancellationToken.None).AsTask();
        var followUp = Request("u0", Fingerprint(100, 32_000, 1, 2, 3));
        var pendingFollowUp = _router.RouteAsync(followUp, followUp.Conversation, CancellationToken.None).AsTask();

        Finish(requests[0], leases[0], 10_500, 10_000);

        var lease = await pendingFollowUp.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(leases[0].Slot, lease!.Slot);
        Assert.Equal("own-slot", lease.Reason);
        Assert.False(pendingNew.IsCompleted);

        Finish(requests[1], leases[1], 10_500, 10_000);
        Assert.NotNull(await pendingNew.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task RouteAsync_LongRequestWaitedLongerThanItsExtraWork_GoesBeforeAShortOne()
    {
        var (requests, leases) = await FillSlotsWithWarmConversationsAsync();
        var newcomer = Request("new", Fingerprint(999, 32_000, 9));
        var pendingNew = _router.RouteAsync(newcomer, newcomer.Conversation, CancellationToken.None).AsTask();
        await Eventually.TrueAsync(() => _time.ArmedTimers > 0);

        // 40,000 characters at the default 0.27 tokens/char and 1,000 tokens/s: about 11 s more work than a follow-up.
        _time.Advance(TimeSpan.FromSeconds(20));
        var followUp = Request("u0", Fingerprint(100, 32_000, 1, 2, 3));
        var pendingFollowUp = _router.RouteAsync(followUp, followUp.Conversation, CancellationToken.None).AsTask();
        Finish(requests[0], leases[0], 10_500, 10_000);

        var lease = await pendingNew.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(leases[0].Slot, lease!.Slot);
        Assert.False(pendingFollowUp.IsCompleted);

        Finish(newcomer, lease, 10_800, 0);
        Assert.NotNull(await pendingFollowUp.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task RouteAsync_SecondLongPrefillWhileOneRuns_WaitsUntilTheFirstHasProcessedItsPrompt()
    {
        // 40,000 characters of new prompt: about 11 s of prefill at the default speed, over the 4 s that count as long.
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4 });
        var first = Request("u1", Fingerprint(1, 32_000, 11));
        var firstLease = await RouteNowAsync(first);
        var second = Request("u2", Fingerprint(2, 32_000, 21));

        var pending = _router.RouteAsync(second, second.Conversation, CancellationToken.None).AsTask();
        Assert.False(pending.IsCompleted);
        Assert.Equal(1, _router.QueueLength);

        firstLease.PrefillDone();

        var lease = await pending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(lease);
        Assert.NotEqual(firstLease.Slot, lease.Slot);
        Assert.Equal(0, _router.QueueLength);
    }

    [Fact]
    public async Task RouteAsync_ShortTurnWhileLongPrefillRuns_TakesItsSlotAtOnce()
    {
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4 });
        var warm = Request("u1", Fingerprint(1, 32_000, 11));
        Finish(warm, await RouteNowAsync(warm), 10_000, 0);
        var cold = Request("u2", Fingerprint(2, 32_000, 21));
        var coldLease = await RouteNowAsync(cold);

        var followUp = Request("u1", Fingerprint(1, 32_000, 11, 12));
        var lease = await RouteNowAsync(followUp);

        Assert.Equal("own-slot", lease.Reason);
        Assert.NotEqual(coldLease.Slot, lease.Slot);
    }

    private static ConversationFingerprint ShortFingerprint(ulong prefix) => new()
    {
        PrefixKey = prefix,
        Chain = [prefix + 1],
        PromptChars = 1_000,
        PrefixChars = 800,
        ChainChars = [1_000],
        ToolCount = 12,
        Model = "claude-opus",
        MaxTokens = 32_000,
    };

    [Fact]
    public async Task RouteAsync_ShortPromptAboveARunningLongPrefill_PausesItUntilTheShortPromptIsProcessed()
    {
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4, PreemptLongPrefills = true });
        var longLease = await RouteNowAsync(Request("u1", Fingerprint(1, 32_000, 11)));
        var attempt = await longLease.Preemption!.NextAttemptAsync(CancellationToken.None);

        var shortLease = await RouteNowAsync(Request("u2", ShortFingerprint(2)));

        Assert.True(shortLease.Slot > longLease.Slot);
        Assert.True(attempt.IsCancellationRequested);
        Assert.True(longLease.Preemption.EndAttempt());
        var resend = longLease.Preemption.NextAttemptAsync(CancellationToken.None).AsTask();
        Assert.False(resend.IsCompleted);
        shortLease.PrefillDone();
        await resend.WaitAsync(TimeSpan.FromSeconds(10));
        shortLease.Dispose();
        longLease.Dispose();
    }

    [Fact]
    public async Task RouteAsync_LongPrefillAboutToFinish_IsNotPaused()
    {
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4, PreemptLongPrefills = true });
        var longLease = await RouteNowAsync(Request("u1", Fingerprint(1, 32_000, 11)));
        var attempt = await longLease.Preemption!.NextAttemptAsync(CancellationToken.None);

        // 40,000 characters at 0.27 tokens each and 1,000 tokens/s: 10.8 s expected, 1.3 s left.
        _time.Advance(TimeSpan.FromSeconds(9.5));
        var shortLease = await RouteNowAsync(Request("u2", ShortFingerprint(2)));

        Assert.False(attempt.IsCancellationRequested);
        shortLease.Dispose();
        longLease.Dispose();
    }

    [Fact]
    public async Task RouteAsync_PreemptionTurnedOff_LongPrefillHasNoPauseHandle()
    {
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4, PreemptLongPrefills = false });
        var longLease = await RouteNowAsync(Request("u1", Fingerprint(1, 32_000, 11)));
        var shortLease = await RouteNowAsync(Request("u2", ShortFingerprint(2)));

        Assert.Null(longLease.Preemption);
        shortLease.Dispose();
        longLease.Dispose();
    }

    [Fact]
    public async Task RouteAsync_LongPrefillLimitOfTwo_StartsTheThirdWhenOneEnds()
    {
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4, MaxLongPrefillsPerInstance = 2 });
        var requests = new[] { Request("u1", Fingerprint(1, 32_000, 11)), Request("u2", Fingerprint(2, 32_000, 21)) };
        var leases = new[] { await RouteNowAsync(requests[0]), await RouteNowAsync(requests[1]) };
        var third = Request("u3", Fingerprint(3, 32_000, 31));

        var pending = _router.RouteAsync(third, third.Conversation, CancellationToken.None).AsTask();
        Assert.False(pending.IsCompleted);

        // Ending without output (an error, a disconnect) frees the place as well.
        leases[1].Dispose();

        Assert.NotNull(await pending.WaitAsync(TimeSpan.FromSeconds(10)));
        leases[0].Dispose();
    }

    [Fact]
    public async Task PrefillDone_AfterTheLeaseWasReleased_ChangesNothingForTheSlotsNextHolder()
    {
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4, MaxLongPrefillsPerInstance = 1 });
        var first = Request("u1", Fingerprint(1, 32_000, 11));
        var firstLease = await RouteNowAsync(first);
        firstLease.Dispose();
        var next = Request("u2", Fingerprint(1, 32_000, 41));
        var nextLease = await RouteNowAsync(next);
        Assert.Equal(firstLease.Slot, nextLease.Slot);

        firstLease.PrefillDone();

        var waiting = Request("u3", Fingerprint(3, 32_000, 31));
        var pending = _router.RouteAsync(waiting, waiting.Conversation, CancellationToken.None).AsTask();
        Assert.False(pending.IsCompleted);
        nextLease.PrefillDone();
        Assert.NotNull(await pending.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task RouteAsync_OwnSlotTakenOverByAnotherConversation_DoesNotWaitForIt()
    {
        var (requests, leases) = await FillSlotsWithWarmConversationsAsync();

        // Both the newcomer and u0's re-computation are long prefills; the limit on those is not under test.
        _routing.Set(new RoutingOptions { SideLaneSlots = 0, MaxSlotsPerUser = 4, MaxLongPrefillsPerInstance = 4 });
        Finish(requests[0], leases[0], 10_500, 10_000);
        var newcomer = Request("new", Fingerprint(999, 32_000, 9));
        var newcomerLease = await RouteNowAsync(newcomer);
        Assert.Equal(leases[0].Slot, newcomerLease.Slot);
        Finish(requests[1], leases[1], 10_500, 10_000);

        // u0's cache is being overwritten on its old slot; waiting for that slot would only end in a re-computation there.
        var followUp = Request("u0", Fingerprint(100, 32_000, 1, 2, 3));
        var lease = await RouteNowAsync(followUp);

        Assert.Equal(leases[1].Slot, lease.Slot);
    }

    [Fact]
    public async Task RouteAsync_TakeoverNeverReachedTheUpstream_OldOwnerKeepsItsSlot()
    {
        var (requests, leases) = await FillSlotsWithWarmConversationsAsync();
        Finish(requests[0], leases[0], 10_500, 10_000);
        var newcomer = Request("new", Fingerprint(999, 32_000, 9));
        var newcomerLease = await RouteNowAsync(newcomer);

        newcomerLease.Dispose();

        var followUp = Request("u0", Fingerprint(100, 32_000, 1, 2, 3));
        var lease = await RouteNowAsync(followUp);
        Assert.Equal(leases[0].Slot, lease.Slot);
        Assert.Equal("own-slot", lease.Reason);
    }

    [Fact]
    public async Task RouteAsync_CountTokens_IsSlotless()
    {
        var request = new GatewayRequestContext(ApiRoute.CountTokens, _time.GetTimestamp()) { Fingerprint = Fingerprint(1, -1, 1) };

        var lease = await RouteNowAsync(request);

        Assert.Null(lease.Slot);
        Assert.All(_router.Snapshot().Instances[0].Slots, slot => Assert.False(slot.Busy));
    }
}
