namespace LlamaGateway.SlotPersistence;

/// <summary>The file a state is to be saved into (marked being written), or why it is not saved.</summary>
internal readonly record struct SaveReservation(SavedStateFile? File, long EstimatedBytes, string? SkipReason, bool CountAsSkipped)
{
    public static SaveReservation Reserved(SavedStateFile file, long estimatedBytes) => new(file, estimatedBytes, null, false);

    public static SaveReservation Skip(string reason, bool countAsSkipped) => new(null, 0, reason, countAsSkipped);
}
