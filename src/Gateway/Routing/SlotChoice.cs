namespace LlamaGateway.Routing;

/// <summary>The chooser's verdict: take <see cref="Slot"/> now, or wait (for <see cref="WaitFor"/>, or any slot).</summary>
internal readonly record struct SlotChoice(InstanceSlots? Pool, SlotState? Slot, SlotState? WaitFor, double WaitBudgetSeconds, string Reason)
{
    public static SlotChoice Take(InstanceSlots pool, SlotState slot, string reason) => new(pool, slot, null, 0, reason);

    public static SlotChoice Wait(SlotState slot, double budgetSeconds, string reason) => new(null, null, slot, budgetSeconds, reason);

    public static SlotChoice WaitAny(string reason) => new(null, null, null, 0, reason);
}
