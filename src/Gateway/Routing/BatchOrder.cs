namespace LlamaGateway.Routing;

/// <summary>
/// llama-server fills each batch with pending prompt tokens slot by slot in index order, so a prompt on a slot waits
/// for every lower-numbered slot still processing its prompt and holds up every higher-numbered one. A follow-up turn
/// of a few hundred tokens placed above a new conversation's 10,000-token prefill gets its first token only after
/// that whole prefill. Walked over an instance's slots in index order, this prices placing a request on the slot
/// reached: the prefill still ahead of it below, plus its own work once for each prompt it would hold up above.
/// A long prefill below that a short request would pause (<see cref="PrefillPreemption"/>) delays it by nothing and
/// is itself held up by the request's work.
/// </summary>
internal struct BatchOrder
{
    private readonly long _now;
    private readonly double _frequency;
    private readonly int _prefilling;
    private double _remainingBelow;
    private int _prefillingBelow;
    private double _pausableRemainingBelow;
    private double _pausableLeastRemaining;
    private int _pausableBelow;

    public BatchOrder(InstanceSlots pool, long now, long frequency)
    {
        _now = now;
        _frequency = frequency;
        if (!pool.CanPin)
        {
            // Unpinned requests land wherever llama-server puts them: the router's slot numbers are its own bookkeeping.
            return;
        }

        foreach (var slot in pool.Slots)
        {
            if (IsPrefilling(slot, now))
            {
                _prefilling++;
            }
        }
    }

    /// <summary>Steps past <paramref name="slot"/>, the next slot in index order (call before pricing it).</summary>
    public void Pass(SlotState slot)
    {
        if (_prefilling > 0 && IsPrefilling(slot, _now))
        {
            var remaining = (slot.PrefillUntil - _now) / _frequency;
            _prefillingBelow++;
            if (slot.LongPrefill && slot.Preemption is not null)
            {
                _pausableRemainingBelow += remaining;
                _pausableLeastRemaining = _pausableBelow++ == 0 ? remaining : Math.Min(_pausableLeastRemaining, remaining);
            }
            else
            {
                _remainingBelow += remaining;
            }
        }
    }

    /// <summary>
    /// Expected seconds of prompt-processing delay, to this request and to others, of placing it on the slot just
    /// passed (an idle one); <paramref name="longPrefill"/>: the request would itself be a long prefill, which pauses nothing.
    /// </summary>
    public readonly double DelaySeconds(double workSeconds, bool longPrefill = false)
    {
        if (_prefilling == 0)
        {
            return 0;
        }

        var above = workSeconds * (_prefilling - _prefillingBelow);
        var pausable = _pausableBelow > 0 && !longPrefill && PrefillPreemption.Worthwhile(_pausableLeastRemaining, workSeconds)
            ? workSeconds * _pausableBelow
            : _pausableRemainingBelow;
        return _remainingBelow + pausable + above;
    }

    private static bool IsPrefilling(SlotState slot, long now) => slot.Busy && slot.PrefillUntil > now;
}
