using LlamaGateway.Upstreams;

namespace LlamaGateway.Routing;

/// <summary>
/// The routing decision for one request and the hold it has on its (instance, slot). Disposing releases the slot
/// for the next request, which is why every path out of the pipeline disposes it.
/// </summary>
internal sealed class RoutingLease : IDisposable
{
    private Action<RoutingLease>? _release;
    private Action<RoutingLease>? _prefillDone;

    public RoutingLease(UpstreamInstance instance, int? slot, string reason, Action<RoutingLease>? release)
    {
        Instance = instance;
        Slot = slot;
        Reason = reason;
        _release = release;
    }

    public UpstreamInstance Instance { get; }

    /// <summary>The llama-server slot (<c>id_slot</c>) the request is pinned to, or null for the server's choice.</summary>
    public int? Slot { get; }

    /// <summary>
    /// Why this slot was chosen (for logs and the dashboard), e.g. "own-slot", "prefix-match", "lru", with what was
    /// done to the slot before forwarding appended ("evict-least-valuable+saved+restored").
    /// </summary>
    public string Reason { get; private set; }

    /// <summary>What the router believed the pinned slot held when it was leased (null: nothing known, or not pinned).</summary>
    public SlotContent? Held { get; init; }

    /// <summary>Whose cached tokens the request may reuse (<c>Gateway:Isolation</c>).</summary>
    public ReuseScope Scope { get; init; }

    /// <summary>The conversation the request continues or starts (null for side requests).</summary>
    internal string? ConversationId { get; init; }

    /// <summary>
    /// Under <c>Gateway:Isolation</c> PerUser: the slot may hold tokens another identity's request computed (or tokens
    /// the gateway does not know), or llama-server may restore another identity's state from its RAM cache into it,
    /// so the request goes with <c>cache_prompt: false</c> and llama-server computes the whole prompt. Cleared once
    /// the slot holds the request's own tokens (<see cref="OwnTokensInSlot"/>).
    /// </summary>
    public bool IsolatePrompt { get; init; }

    private bool _isolationLifted;

    /// <summary>
    /// The slot now holds the request's own tokens (its own saved state restored, or the first chunk of its prompt
    /// computed with <c>cache_prompt: false</c>), so what follows may reuse them.
    /// </summary>
    public void OwnTokensInSlot()
    {
        if (IsolatePrompt && !_isolationLifted)
        {
            _isolationLifted = true;
            LiftedSinceBuilt = true;
        }
    }

    /// <summary>Whether the request must still not reuse the slot's cache.</summary>
    public bool Isolated => IsolatePrompt && !_isolationLifted;

    /// <summary>
    /// Set when <see cref="OwnTokensInSlot"/> lifted the isolation after the upstream body was built (with
    /// <c>cache_prompt: false</c>); the pipeline then builds it again, and clears this.
    /// </summary>
    public bool LiftedSinceBuilt { get; set; }

    /// <summary>The instance's measured tokens per canonical character at lease time, to size <see cref="Held"/>'s reuse.</summary>
    public double TokensPerChar { get; init; } = SlotChooser.DefaultTokensPerChar;

    /// <summary>The router's state of the leased slot; only the router touches it, under its lock.</summary>
    internal SlotState? SlotState { get; init; }

    /// <summary>The router's state of the leased slot's instance; only the router touches it, under its lock.</summary>
    internal InstanceSlots? Pool { get; init; }

    /// <summary>How shorter prompts may pause this request while it processes its prompt (a long prefill on a pinned slot); else null.</summary>
    public PrefillPreemption? Preemption { get; init; }

    private PrefillPreemption[]? _heldUp;

    /// <summary>Long prefills below this request's slot it paused; released once its own prompt is processed.</summary>
    internal PrefillPreemption[]? HeldUp
    {
        init => _heldUp = value;
    }

    /// <summary>Called by the router when the upstream's first output shows the prompt has been processed.</summary>
    internal Action<RoutingLease>? OnPrefillDone
    {
        init => _prefillDone = value;
    }

    /// <summary>
    /// The upstream sent its first output: the prompt is processed, so the slot no longer counts as prefilling
    /// (the relay calls it once per stream; later calls and calls after release do nothing).
    /// </summary>
    public void PrefillDone()
    {
        ReleaseHeldUp();
        Interlocked.Exchange(ref _prefillDone, null)?.Invoke(this);
    }

    private void ReleaseHeldUp()
    {
        if (Interlocked.Exchange(ref _heldUp, null) is { } heldUp)
        {
            foreach (var preemption in heldUp)
            {
                preemption.Release();
            }
        }
    }

    /// <summary>Records a step taken on the slot before the request was forwarded (e.g. "saved", "restored").</summary>
    public void AddStep(string step) => Reason = Reason + "+" + step;

    public void Dispose()
    {
        // Dropped before the slot is released, so a late first-output signal can never reach the slot's next holder.
        Interlocked.Exchange(ref _prefillDone, null);
        ReleaseHeldUp();
        Interlocked.Exchange(ref _release, null)?.Invoke(this);
    }
}
