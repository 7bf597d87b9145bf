using LlamaGateway.Routing;

namespace LlamaGateway.SlotPersistence;

/// <summary>
/// One file the gateway wrote (or is writing) in llama-server's save directory. llama-server cannot delete files, so
/// a name, once used, stays on its disk until overwritten: the index only ever reuses names. Guarded by the index's lock.
/// </summary>
internal sealed class SavedStateFile(string fileName)
{
    public string FileName { get; } = fileName;

    /// <summary>Bytes the file takes on disk as far as known (the last save's <c>n_written</c>, or an upper estimate after a save that may have half-finished).</summary>
    public long Bytes { get; set; }

    /// <summary>What the file holds; null while it is written, after a failed write, or once llama-server refused to restore it.</summary>
    public SlotContent? Content { get; set; }

    /// <summary>Last save or restore (TimeProvider timestamp), for least-recently-used reuse.</summary>
    public long LastUsed { get; set; }

    public bool Writing { get; set; }

    /// <summary>Restores reading it right now; it is not overwritten meanwhile.</summary>
    public int Readers { get; set; }
}
