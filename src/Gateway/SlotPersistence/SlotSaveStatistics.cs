namespace LlamaGateway.SlotPersistence;

/// <summary>One instance's slot save/restore counters and disk use, for /status.json and /metrics.</summary>
/// <param name="Supported">False after the instance answered that it cannot save slots (no <c>--slot-save-path</c>).</param>
/// <param name="UnsupportedReason">llama-server's answer when unsupported, else null.</param>
/// <param name="Files">Files holding a state that can be restored.</param>
/// <param name="FileNames">File names used so far (they stay on llama-server's disk).</param>
/// <param name="BytesOnDisk">Bytes those files take as far as known.</param>
/// <param name="BudgetBytes"><c>MaxDiskMiB</c> in bytes.</param>
internal sealed record SlotSaveStatistics(bool Supported, string? UnsupportedReason, int Files, int FileNames, long BytesOnDisk, long BudgetBytes,
    long Saves, long SaveFailures, long BytesWritten, long Skipped, long Restores, long RestoreFailures, long TokensRestored, long BytesRead);
