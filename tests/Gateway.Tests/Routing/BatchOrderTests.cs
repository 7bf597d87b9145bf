using LlamaGateway.Conversations;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Routing;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Tests.Routing;

public sealed class BatchOrderTests : IDisposable
{
    private readonly ManualTimeProvider _time = new();
    private readonly UpstreamRegistry _registry;
    private readonly InstanceSlots _pool;
    private readonly RoutingOptions _options = new() { SideLaneSlots = 0, MaxSlotsPerUser = 4 };

    public BatchOrderTests()
    {
        var gateway = new GatewayOptions { Upstreams = [new UpstreamOptions { Name = "a", BaseUrl = "http://127.0.0.1:1", Slots = 4 }] };
        _registry = new UpstreamRegistry(new StaticOptionsMonitor<GatewayOptions>(gateway));
        _pool = new InstanceSlots(_registry.Instances[0]);
        _pool.EnsureShape(0);
    }

    public void Dispose() => _registry.Dispose();

    /// <summary>Slot <paramref name="index"/> runs a request with <paramref name="prefillSecondsLeft"/> of its prompt still to process (0: generating).</summary>
    private void Running(int index, int prefillSecondsLeft)
    {
        _pool.Slots[index].Busy = true;
        _pool.Slots[index].PrefillUntil = prefillSecondsLeft == 0 ? 0 : _time.GetTimestamp() + (prefillSecondsLeft * _time.TimestampFrequency);
    }

    private SlotChoice Choose(int promptChars)
    {
        var fingerprint = new ConversationFingerprint
        {
            PrefixKey = (ulong)promptChars,
            Chain = [(ulong)promptChars],
            PromptChars = promptChars,
            PrefixChars = promptChars / 2,
            ChainChars = [promptChars],
            ToolCount = 12,
            Model = "claude-opus",
            MaxTokens = 32_000,
        };
        var request = new GatewayRequestContext(ApiRoute.Messages, _time.GetTimestamp()) { User = "u", Fingerprint = fingerprint };
        var waiter = new SlotWaiter(request, RequestKind.Conversation, null, "u", _time.GetTimestamp());
        return SlotChooser.Choose(waiter, [_pool], _options, _time.GetTimestamp(), _time.TimestampFrequency);
    }

    [Fact]
    public void Choose_NoPromptBeingProcessed_TakesTheFirstEmptySlot()
    {
        var choice = Choose(40_000);

        Assert.Equal(0, choice.Slot!.Index);
    }

    [Fact]
    public void Choose_ShortPromptWhileAnotherSlotPrefills_GoesBelowItInBatchOrder()
    {
        Running(0, prefillSecondsLeft: 0);
        Running(2, prefillSecondsLeft: 20);

        // 4,000 characters at 0.27 tokens/char and 1,000 tokens/s: about 1 s, against 20 s still to prefill on slot 2.
        var choice = Choose(4_000);

        Assert.Equal(1, choice.Slot!.Index);
    }

    [Fact]
    public void Choose_LongPromptWhileAShorterPrefillRuns_GoesAboveItSoTheShortOneIsNotHeldUp()
    {
        Running(1, prefillSecondsLeft: 2);

        // 100,000 characters: about 27 s of prefill, which on slot 0 would hold up slot 1's last 2 s until it is done.
        var choice = Choose(100_000);

        Assert.True(choice.Slot!.Index > 1, $"placed on slot {choice.Slot.Index}");
    }

    [Fact]
    public void Choose_LongPromptAfterTheOtherPrefillEnded_TakesTheFirstSlotAgain()
    {
        Running(1, prefillSecondsLeft: 20);
        Assert.True(Choose(100_000).Slot!.Index > 1);

        // Slot 1 is still busy but past its prompt (generating): it holds nobody up and waits for nobody.
        _time.Advance(TimeSpan.FromSeconds(21));

        Assert.Equal(0, Choose(100_000).Slot!.Index);
    }

    [Theory]
    [InlineData(true, 0.5, false, 0.5)]
    [InlineData(true, 0.5, true, 20)]
    [InlineData(true, 12, false, 20)]
    [InlineData(false, 0.5, false, 20)]
    public void DelaySeconds_AboveALongPrefill_IsTheShortPromptsOwnWorkOnlyWhenItWouldPauseIt(bool pausable, double work, bool longPrefill, double expected)
    {
        Running(0, prefillSecondsLeft: 20);
        _pool.Slots[0].LongPrefill = true;
        _pool.Slots[0].Preemption = pausable ? new PrefillPreemption(_time, budgetSeconds: 20) : null;
        var order = new BatchOrder(_pool, _time.GetTimestamp(), _time.TimestampFrequency);

        order.Pass(_pool.Slots[0]);
        order.Pass(_pool.Slots[1]);

        // Pausing costs the long prefill the short prompt's work; a long request, or work near what is left, pauses nothing.
        Assert.Equal(expected, order.DelaySeconds(work, longPrefill), precision: 6);
    }
}
