namespace LlamaGateway.Routing;

/// <summary>
/// llama-server fills each batch with pending prompt tokens slot by slot in index order, so a prompt on a slot waits
/// for every lower-numbered slot still processing its prompt and holds up every higher-numbered one. A follow-up turn
/// of a few hundred tokens placed above a new conversation's 10,000-token prefill gets its first token only after
/// that whole prefill. Walked over an instance's slots in index order, this prices placing a request on the slot
/// reached: the prefill still ahead of it below, plus its own work once for each prompt it would hold up above.
/// </summary>
internal struct BatchOrder
{
    private readonly long _now;
    private readonly double _frequency;
    private readonly int _prefilling;
    private double _remainingBelow;
    private int _prefillingBelow;

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
            _remainingBelow += (slot.PrefillUntil - _now) / _frequency;
            _prefillingBelow++;
        }
    }

    /// <summary>Expected seconds of prompt-processing delay, to this request and to others, of placing it on the slot just passed (an idle one).</summary>
    public readonly double DelaySeconds(double workSeconds) =>
        _prefilling == 0 ? 0 : _remainingBelow + (workSeconds * (_prefilling - _prefillingBelow));

    private static bool IsPrefilling(SlotState slot, long now) => slot.Busy && slot.PrefillUntil > now;
}
