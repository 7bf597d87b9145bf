using LlamaGateway.Conversations;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Routing;
using LlamaGateway.SlotPersistence;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Tests.SlotPersistence;

public sealed class SlotChooserRestoreTests : IDisposable
{
    private const ulong Prefix = 0xABCDEF;
    private readonly ManualTimeProvider _time = new();
    private readonly StaticOptionsMonitor<RoutingOptions> _routing = new(new RoutingOptions());
    private readonly UpstreamRegistry _registry;
    private readonly ConversationTable _conversations;
    private readonly SavedStateCatalog _catalog = new();
    private readonly SlotRouter _router;

    public SlotChooserRestoreTests()
    {
        var gateway = new GatewayOptions
        {
            Upstreams =
            [
                new UpstreamOptions { Name = "a", BaseUrl = "http://127.0.0.1:1", Slots = 1, SlotSave = new SlotSaveOptions { Enabled = true } },
                new UpstreamOptions { Name = "b", BaseUrl = "http://127.0.0.1:2", Slots = 1, SlotSave = new SlotSaveOptions { Enabled = true } },
            ],
        };
        _registry = new UpstreamRegistry(new StaticOptionsMonitor<GatewayOptions>(gateway));
        _conversations = new ConversationTable(_routing, _time);
        _router = new SlotRouter(_registry, _routing, _time, null, _catalog);
    }

    public void Dispose()
    {
        _conversations.Dispose();
        _registry.Dispose();
    }

    private static ConversationFingerprint Fingerprint(params ulong[] chain) => new()
    {
        PrefixKey = Prefix,
        Chain = chain,
        PromptChars = 40_000,
        PrefixChars = 30_000,
        ChainChars = chain.Select((_, i) => 30_000 + ((i + 1) * 10_000 / chain.Length)).ToArray(),
        ToolCount = 12,
        Model = "claude-opus",
        MaxTokens = 32_000,
    };

    [Theory]
    [InlineData(true, "b")]
    [InlineData(false, "a")]
    public async Task RouteAsync_ConversationWithSavedStateOnOneInstance_GoesWhereItCanBeRestored(bool saved, string expectedInstance)
    {
        if (saved)
        {
            // An earlier turn (chain [1]) of the conversation, saved on b.
            var b = _registry.Find("b")!;
            var index = _catalog.For(b)!;
            var content = new SlotContent(Prefix, [1], [35_000], 30_000, 9_000, "earlier", "alice");
            var reservation = index.ReserveSave(content, b.Options.SlotSave, _time.GetTimestamp());
            index.CompleteSave(reservation.File!, content, 9_000, 36_000_000, _time.GetTimestamp());
        }

        var fingerprint = Fingerprint(1, 2, 3);
        var request = new GatewayRequestContext(ApiRoute.Messages, _time.GetTimestamp()) { User = "alice", Fingerprint = fingerprint };
        request.Conversation = _conversations.Resolve(fingerprint, "alice", "alice", null);
        var routing = _router.RouteAsync(request, request.Conversation, CancellationToken.None).AsTask();
        Assert.True(routing.IsCompleted);

        using var lease = await routing;

        Assert.Equal(expectedInstance, lease!.Instance.Name);
    }
}
