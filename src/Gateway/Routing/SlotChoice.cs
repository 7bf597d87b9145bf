namespace LlamaGateway.Routing;

/// <summary>
/// The chooser's verdict: take <see cref="Slot"/> now, or wait (for <see cref="WaitFor"/>, or any slot).
/// <see cref="WorkSeconds"/> is the upstream work the request is expected to cost on that slot (prefill of what the
/// slot cannot reuse, or restoring a saved state), which the router uses to serve short requests first;
/// <see cref="LongPrefill"/> marks a placement that counts against the instance's long-prefill limit.
/// </summary>
internal readonly record struct SlotChoice(InstanceSlots? Pool, SlotState? Slot, SlotState? WaitFor, double WaitBudgetSeconds, string Reason, double WorkSeconds = 0, bool LongPrefill = false)
{
    public static SlotChoice Take(InstanceSlots pool, SlotState slot, string reason, double workSeconds, bool longPrefill = false) => new(pool, slot, null, 0, reason, workSeconds, longPrefill);

    public static SlotChoice Wait(SlotState slot, double budgetSeconds, string reason) => new(null, null, slot, budgetSeconds, reason);

    public static SlotChoice WaitAny(string reason) => new(null, null, null, 0, reason);
}
