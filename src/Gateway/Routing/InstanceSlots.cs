using LlamaGateway.Pipeline;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Routing;

/// <summary>The router's view of one instance: its slots and what it has learned of its speed. Guarded by the router's lock.</summary>
internal sealed class InstanceSlots(UpstreamInstance instance)
{
    /// <summary>Instances with at least this many slots reserve one side-lane slot unless configured otherwise.</summary>
    public const int DefaultSideLaneMinimumSlots = 8;

    public UpstreamInstance Instance { get; } = instance;

    public SlotState[] Slots { get; private set; } = [];

    /// <summary>Measured prefill speed (tokens/s, moving average); 0 until the instance reports timings.</summary>
    public double PrefillTokensPerSecond { get; set; }

    /// <summary>Measured tokens per canonical character of prompt (moving average); 0 until known.</summary>
    public double TokensPerChar { get; set; }

    /// <summary>Moving average of how long a request holds a slot (seconds).</summary>
    public double AverageHoldSeconds { get; set; } = 10;

    public int SlotlessInFlight { get; set; }

    private double _prefillTokens;
    private double _prefillSpeedByTokens;
    // The tokens-per-character sums start from a prior worth a short prompt at the default ratio: the first request a
    // fresh gateway sees is Claude Code's quota probe, 5 characters that the chat template makes 30 tokens, and on its
    // own it would price the next prompts at 6 tokens per character (a title request became a "long" prompt).
    private double _promptTokens = PriorPromptChars * SlotChooser.DefaultTokensPerChar;
    private double _promptChars = PriorPromptChars;

    private const double PriorPromptChars = 4_000;

    /// <summary>The instance's saved slot states (<c>SlotSave</c> enabled), so the chooser counts what a restore would reuse; else null.</summary>
    public SlotPersistence.SavedStateIndex? SavedStates { get; set; }

    /// <summary>Whether a request on this instance can be pinned with id_slot (only the OpenAI dialect honours it).</summary>
    public bool CanPin => Instance.Dialect == ApiDialect.OpenAi;

    /// <summary>Matches the slot array to the instance's (possibly newly discovered) slot count.</summary>
    public void EnsureShape(int? sideLaneSetting)
    {
        var count = Math.Max(1, Instance.SlotCount);
        if (Slots.Length != count)
        {
            var resized = new SlotState[count];
            for (var i = 0; i < count; i++)
            {
                resized[i] = i < Slots.Length ? Slots[i] : new SlotState(i);
            }

            Slots = resized;
        }

        // Side-lane slots are the highest-numbered ones, so conversation slots keep stable low ids. By default only
        // big instances reserve one: measured on 3 slots, a reserved slot cost a whole conversation's capacity and
        // 37% more re-computed tokens (bench/results/archive/2026-11-22-side-lane/), while a short side request on a conversation's
        // slot keeps less than half of it, so llama-server saves that state to its RAM cache and restores it later.
        var sideLanes = Math.Clamp(sideLaneSetting ?? (count >= DefaultSideLaneMinimumSlots ? 1 : 0), 0, count - 1);
        for (var i = 0; i < count; i++)
        {
            Slots[i].SideLane = i >= count - sideLanes;
        }

        MainSlotCount = count - sideLanes;
    }

    /// <summary>Slots that take conversations (all but the side lane), as of the last <see cref="EnsureShape"/>.</summary>
    public int MainSlotCount { get; private set; }

    /// <summary>Requests placed as long prefills still processing their prompt.</summary>
    public int LongPrefillCount()
    {
        var running = 0;
        foreach (var slot in Slots)
        {
            if (slot.Busy && slot.LongPrefill)
            {
                running++;
            }
        }

        return running;
    }

    /// <summary>
    /// Whether another long prefill may start here. Prefill is compute-bound: one prompt already keeps every core busy,
    /// so a second one running beside it finishes nothing sooner and only holds a slot that shorter work could use.
    /// </summary>
    public bool CanStartLongPrefill(RoutingOptions options)
    {
        return LongPrefillCount() < (options.MaxLongPrefillsPerInstance ?? Math.Max(1, MainSlotCount / 4));
    }

    /// <summary>
    /// Whether a slot other than <paramref name="except"/> is processing a prompt that is not being chunked: what a
    /// chunked long prefill gives way to before its next chunk.
    /// </summary>
    public bool AnyShortPrefill(SlotState? except)
    {
        foreach (var slot in Slots)
        {
            if (slot != except && slot is { Busy: true, Prefilling: true, Chunked: false })
            {
                return true;
            }
        }

        return false;
    }

    private TaskCompletionSource? _shortPrefillsDone;

    /// <summary>Completes once no slot is processing a prompt that is not being chunked (<see cref="SignalIfNoShortPrefill"/>).</summary>
    public Task ShortPrefillsDone() => (_shortPrefillsDone ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>
    /// <paramref name="slot"/>'s request has processed its prompt, or left: its prefill no longer holds up other
    /// prompts (long-prefill limit, pausing) nor waits for them (chunking), and chunked prefills waiting for it may go on.
    /// </summary>
    public void EndPrefill(SlotState slot)
    {
        slot.LongPrefill = false;
        slot.Preemption = null;
        slot.Prefilling = false;
        slot.Chunked = false;
        SignalIfNoShortPrefill();
    }

    /// <summary>Wakes the chunked prefills waiting in <see cref="ShortPrefillsDone"/> once nothing shorter is left; called whenever a slot's state changes.</summary>
    public void SignalIfNoShortPrefill()
    {
        if (_shortPrefillsDone is { } waiting && !AnyShortPrefill(null))
        {
            _shortPrefillsDone = null;
            waiting.TrySetResult();
        }
    }

    public int BusyCount()
    {
        var busy = 0;
        foreach (var slot in Slots)
        {
            if (slot.Busy)
            {
                busy++;
            }
        }

        return busy;
    }

    /// <summary>
    /// Learns the instance's prefill speed and tokens per character from one finished request, each request weighing
    /// by its size (sums that fade by <c>Weight</c> per request). A quota probe of 5 characters that the chat template
    /// turns into 30 tokens, or a 100-token suffix that waited out another slot's prefill in the same batches, must not
    /// swing the estimates that price a 15,000-token conversation: a plain moving average of per-request ratios did,
    /// by up to 13x in the cache bench, and made every follow-up turn look like a long prefill.
    /// </summary>
    public void ObserveUsage(double recomputedTokens, double promptMilliseconds, double promptTokens, int promptChars, double holdSeconds)
    {
        const double Weight = 0.3;
        if (recomputedTokens >= 64 && promptMilliseconds > 0)
        {
            var speed = recomputedTokens / (promptMilliseconds / 1000.0);
            _prefillTokens = (_prefillTokens * (1 - Weight)) + recomputedTokens;
            _prefillSpeedByTokens = (_prefillSpeedByTokens * (1 - Weight)) + (speed * recomputedTokens);
            PrefillTokensPerSecond = _prefillSpeedByTokens / _prefillTokens;
        }

        if (promptTokens > 0 && promptChars > 0)
        {
            _promptTokens = (_promptTokens * (1 - Weight)) + promptTokens;
            _promptChars = (_promptChars * (1 - Weight)) + promptChars;
            TokensPerChar = _promptTokens / _promptChars;
        }

        if (holdSeconds > 0)
        {
            AverageHoldSeconds += Weight * (holdSeconds - AverageHoldSeconds);
        }
    }
}
