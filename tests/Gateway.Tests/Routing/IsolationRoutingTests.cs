using LlamaGateway.Conversations;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Routing;
using LlamaGateway.SlotPersistence;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Tests.Routing;

/// <summary>
/// Gateway:Isolation in the router and the chooser: under PerUser a request is never placed on another user's slot
/// for the prefix it holds, never offered another user's saved state, and goes with cache_prompt false wherever
/// llama-server could reuse tokens it does not own. Shared keeps today's prefix sharing.
/// </summary>
public sealed class IsolationRoutingTests : IDisposable
{
    private const ulong SharedPrefix = 0xABCDEF;
    private readonly ManualTimeProvider _time = new();
    private readonly StaticOptionsMonitor<RoutingOptions> _routing = new(new RoutingOptions { CacheValueHalfLifeMinutes = 1 });
    private readonly UpstreamRegistry _registry;
    private readonly ConversationTable _conversations;
    private readonly SavedStateCatalog _catalog = new();

    public IsolationRoutingTests()
    {
        var gateway = new GatewayOptions
        {
            Upstreams = [new UpstreamOptions { Name = "a", BaseUrl = "http://127.0.0.1:1", Slots = 4, SlotSave = new SlotSaveOptions { Enabled = true } }],
        };
        _registry = new UpstreamRegistry(new StaticOptionsMonitor<GatewayOptions>(gateway));
        _conversations = new ConversationTable(_routing, _time);
    }

    public void Dispose()
    {
        _conversations.Dispose();
        _registry.Dispose();
    }

    private static IsolationMode Mode(bool perUser) => perUser ? IsolationMode.PerUser : IsolationMode.Shared;

    private SlotRouter Router(IsolationMode mode) => new(_registry, _routing, _time, null, _catalog, new CacheIsolation(mode));

    private static ConversationFingerprint Fingerprint(ulong prefix, params ulong[] chain) => new()
    {
        PrefixKey = prefix,
        Chain = chain,
        PromptChars = 40_000,
        PrefixChars = 30_000,
        ChainChars = chain.Select((_, i) => 30_000 + ((i + 1) * 10_000 / chain.Length)).ToArray(),
        ToolCount = 12,
        Model = "claude-opus",
        MaxTokens = 32_000,
    };

    private GatewayRequestContext Request(string user, ConversationFingerprint fingerprint)
    {
        var request = new GatewayRequestContext(ApiRoute.Messages, _time.GetTimestamp()) { User = user, Fingerprint = fingerprint };
        request.Conversation = _conversations.Resolve(fingerprint, user, user, null);
        return request;
    }

    private static async Task<RoutingLease> RouteNowAsync(SlotRouter router, GatewayRequestContext request)
    {
        var task = router.RouteAsync(request, request.Conversation, CancellationToken.None).AsTask();
        Assert.True(task.IsCompleted, "expected an immediate placement");
        return (await task)!;
    }

    private static void Finish(GatewayRequestContext request, RoutingLease lease, int promptTokens)
    {
        request.UpstreamResponded = true;
        request.Usage.PromptTokens = promptTokens;
        request.Usage.CachedTokens = 0;
        request.Usage.OutputTokens = 10;
        request.Usage.PromptMilliseconds = -1;
        lease.Dispose();
    }

    [Theory]
    [InlineData(false, true, "prefix-match")]
    [InlineData(true, false, "empty-slot+isolated")]
    public async Task RouteAsync_NewConversationWithAnotherUsersWarmPrefix_SharesItOnlyWhenShared(bool perUser, bool sameSlot, string expectedReason)
    {
        var router = Router(Mode(perUser));
        var alice = Request("alice", Fingerprint(SharedPrefix, 1));
        var aliceLease = await RouteNowAsync(router, alice);
        Finish(alice, aliceLease, 11_000);
        _time.Advance(TimeSpan.FromMinutes(30));

        var bob = Request("bob", Fingerprint(SharedPrefix, 1));
        using var bobLease = await RouteNowAsync(router, bob);

        Assert.NotSame(alice.Conversation, bob.Conversation);
        Assert.Equal(sameSlot, aliceLease.Slot == bobLease.Slot);
        Assert.Equal(expectedReason, bobLease.Reason);
        Assert.Equal(perUser, bobLease.Isolated);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task RouteAsync_EverySlotHoldsAnotherUsersTokens_TakesOneWithoutReusingThemUnderPerUser(bool perUser, bool isolated)
    {
        var router = Router(Mode(perUser));
        for (var i = 0; i < 4; i++)
        {
            var alice = Request("alice", Fingerprint(SharedPrefix, 100 + (ulong)i));
            Finish(alice, await RouteNowAsync(router, alice), 11_000);
        }

        var bob = Request("bob", Fingerprint(SharedPrefix, 100));
        using var lease = await RouteNowAsync(router, bob);

        Assert.Equal(isolated, lease.Isolated);
        Assert.Equal(isolated, lease.Reason.EndsWith("+isolated", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RouteAsync_PerUserFollowUpTurn_ReusesItsOwnSlot()
    {
        var router = Router(IsolationMode.PerUser);
        var turn1 = Request("alice", Fingerprint(SharedPrefix, 1));
        var lease1 = await RouteNowAsync(router, turn1);
        Assert.True(lease1.Isolated, "an empty slot's content is not known to be hers");
        Finish(turn1, lease1, 11_000);

        var turn2 = Request("alice", Fingerprint(SharedPrefix, 1, 2, 3));
        using var lease2 = await RouteNowAsync(router, turn2);

        Assert.Equal(lease1.Slot, lease2.Slot);
        Assert.Equal("own-slot", lease2.Reason);
        Assert.False(lease2.Isolated);
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 0)]
    public async Task RouteAsync_AnotherUsersSavedStateSharesThePrompt_RestorableOnlyWhenShared(bool perUser, int expectedRestores)
    {
        var router = Router(Mode(perUser));
        var instance = _registry.Find("a")!;
        var index = _catalog.For(instance)!;
        var content = new SlotContent(SharedPrefix, [1], [35_000], 30_000, 9_000, "alices", "alice");
        var reservation = index.ReserveSave(content, instance.Options.SlotSave, _time.GetTimestamp());
        index.CompleteSave(reservation.File!, content, 9_000, 36_000_000, _time.GetTimestamp());

        var fingerprint = Fingerprint(SharedPrefix, 1, 2, 3);
        var scope = new CacheIsolation(Mode(perUser)).ScopeFor("bob");
        Assert.Equal(expectedRestores > 0, index.Restorable(fingerprint, SlotChooser.DefaultTokensPerChar, scope).Tokens > 0);
        var restore = index.ReserveRestore(fingerprint, SlotChooser.DefaultTokensPerChar, 1, scope);
        Assert.Equal(expectedRestores, restore is null ? 0 : 1);

        // Her own request is offered her state in both modes.
        Assert.True(index.Restorable(fingerprint, SlotChooser.DefaultTokensPerChar, new CacheIsolation(Mode(perUser)).ScopeFor("alice")).Tokens > 0);
        using var lease = await RouteNowAsync(router, Request("bob", fingerprint));
        Assert.Equal(perUser, lease.Isolated);
    }

    [Fact]
    public void ReserveSave_AnotherUsersLongerStateOfTheSamePrompt_NeverOverwritesTheOwnersFile()
    {
        var instance = _registry.Find("a")!;
        var index = _catalog.For(instance)!;
        var options = instance.Options.SlotSave;
        var alice = new SlotContent(SharedPrefix, [1], [35_000], 30_000, 9_000, "alices", "alice");
        var file = index.ReserveSave(alice, options, _time.GetTimestamp()).File!;
        index.CompleteSave(file, alice, 9_000, 36_000_000, _time.GetTimestamp());

        // Bob's state extends hers (he restored it in Shared mode and went on): it gets a file of its own.
        var bob = new SlotContent(SharedPrefix, [1, 2], [35_000, 38_000], 30_000, 10_000, "bobs", "bob");
        var bobs = index.ReserveSave(bob, options, _time.GetTimestamp()).File;

        Assert.NotNull(bobs);
        Assert.NotEqual(file.FileName, bobs.FileName);
        Assert.Equal(alice, file.Content);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void ReserveSave_SamePromptSavedByAnotherUser_CountsAsSavedOnlyWhenShared(bool perUser, bool skipped)
    {
        var instance = _registry.Find("a")!;
        var index = _catalog.For(instance)!;
        var options = instance.Options.SlotSave;
        var alice = new SlotContent(SharedPrefix, [1], [35_000], 30_000, 9_000, "alices", "alice");
        index.CompleteSave(index.ReserveSave(alice, options, _time.GetTimestamp()).File!, alice, 9_000, 36_000_000, _time.GetTimestamp());

        var bob = alice with { ConversationId = "bobs", User = "bob" };
        var reservation = index.ReserveSave(bob, options, _time.GetTimestamp(), perUser);

        Assert.Equal(skipped, reservation.File is null);
    }

    [Fact]
    public async Task SlotNowHolds_StateRestoredFromAnotherConversation_DoesNotMakeTheSlotThatConversations()
    {
        var router = Router(IsolationMode.Shared);
        var alice = Request("alice", Fingerprint(SharedPrefix, 1));
        Finish(alice, await RouteNowAsync(router, alice), 11_000);

        var bob = Request("bob", Fingerprint(0x999, 50));
        using var bobLease = await RouteNowAsync(router, bob);
        router.SlotNowHolds(bobLease, new SlotContent(SharedPrefix, [1], [35_000], 30_000, 9_000, alice.Conversation!.Id, "alice"));

        var slot = router.Snapshot().Instances[0].Slots.Single(s => s.Index == bobLease.Slot);
        Assert.NotEqual(alice.Conversation.Id, slot.ConversationId);

        // Restoring its own conversation's state keeps it the slot's.
        router.SlotNowHolds(bobLease, new SlotContent(0x999, [50], [35_000], 30_000, 9_000, bob.Conversation!.Id, "bob"));
        Assert.Equal(bob.Conversation.Id, router.Snapshot().Instances[0].Slots.Single(s => s.Index == bobLease.Slot).ConversationId);
    }

    [Theory]
    [InlineData(false, "alice", 2, 11_000, false)]
    [InlineData(true, "alice", 2, 11_000, false)]
    [InlineData(true, "bob", 2, 11_000, true)]
    [InlineData(true, "alice", 1, 11_000, false)]
    [InlineData(true, "alice", 0, 11_000, true)]
    [InlineData(true, "alice", 2, 30_000, true)]
    public void MustIsolate_SlotContentAndOwner_IsolatesUnlessItKeepsEnoughOfItsOwnTokens(bool perUser, string requester, int sharedLinks, int slotTokens, bool expected)
    {
        // The slot holds alice's prompt of slotTokens tokens, chain [1, 2]; the request (40,000 chars, about 10,800
        // tokens) shares sharedLinks of its links with it (0: not even the system prompt). Sharing 9,900 tokens keeps
        // 90 % of 11,000 but 33 % of 30,000, where llama-server would look in its RAM cache.
        var slot = new SlotState(0);
        slot.Remember(Fingerprint(SharedPrefix, 1, 2), slotTokens, "alices", "alice", _time.GetTimestamp());
        var request = sharedLinks switch { 2 => Fingerprint(SharedPrefix, 1, 2, 3), 1 => Fingerprint(SharedPrefix, 1, 9, 10), _ => Fingerprint(0x777, 7, 8, 9) };

        var isolate = SlotChooser.MustIsolate(slot, request, SlotChooser.DefaultTokensPerChar, new CacheIsolation(Mode(perUser)).ScopeFor(requester));

        Assert.Equal(expected, isolate);
    }

    [Fact]
    public void MustIsolate_PerUserOnASlotWhoseContentIsUnknown_Isolates()
    {
        var slot = new SlotState(0);
        var fingerprint = Fingerprint(SharedPrefix, 1);

        Assert.True(SlotChooser.MustIsolate(slot, fingerprint, SlotChooser.DefaultTokensPerChar, new ReuseScope(null, PerUser: true)));
        Assert.False(SlotChooser.MustIsolate(slot, fingerprint, SlotChooser.DefaultTokensPerChar, new ReuseScope(null, PerUser: false)));
    }
}
