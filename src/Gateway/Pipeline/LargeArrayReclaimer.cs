namespace LlamaGateway.Pipeline;

/// <summary>
/// Gives the memory of a burst of large request bodies back to the OS once the burst is over. The pools hand out
/// arrays past their pooled size for one request and drop them on return (<see cref="BoundedArrayPool{T}"/>), but a
/// dropped array lives on the large object heap until a full collection, and even then the GC keeps the freed
/// regions committed for reuse; a gateway that goes idle after the burst allocates nothing that would change that:
/// measured, 24 concurrent 30 MB count_tokens left 1.5 GB resident, idle, for as long as one cared to wait.
/// So once the last large array of a burst is back, at least <see cref="ReclaimAfterBytes"/> were dropped since the
/// last time, and no large array has been rented for <see cref="QuietPeriod"/>, one aggressive collection (which
/// compacts and decommits what it frees) runs on a timer thread: measured 0.13 s of pause after that burst, once. Within
/// a burst, a full non-compacting collection every <see cref="CollectWithinBurstBytes"/> dropped lets the next
/// requests reuse the space instead of the heap growing by the GC's own budget first (2-20 ms pauses; that burst's
/// peak went from 1.6 GB to 1.3 GB). Ordinary requests never rent a large array, so they never get here.
/// </summary>
internal static class LargeArrayReclaimer
{
    /// <summary>Dropped large arrays worth a collection: a few 30 MB bodies' worth, far above any Claude Code request.</summary>
    public const long ReclaimAfterBytes = 64L * 1024 * 1024;

    /// <summary>Dropped bytes within a burst after which a full (non-compacting) collection runs.</summary>
    public const long CollectWithinBurstBytes = 256L * 1024 * 1024;

    /// <summary>How long no large array must be out before the collection: a burst's requests finish together.</summary>
    public static readonly TimeSpan QuietPeriod = TimeSpan.FromSeconds(1);

    private static readonly Timer Timer = new(static _ => Reclaim(), null, Timeout.Infinite, Timeout.Infinite);
    private static long _outstandingBytes;
    private static long _droppedBytes;
    private static long _droppedSinceCollect;
    private static long _collections;

    /// <summary>Bytes of large arrays handed out and not yet returned.</summary>
    internal static long OutstandingBytes => Interlocked.Read(ref _outstandingBytes);

    /// <summary>Bytes of large arrays dropped since the last collection.</summary>
    internal static long PendingBytes => Interlocked.Read(ref _droppedBytes);

    /// <summary>Collections run so far.</summary>
    internal static long Collections => Interlocked.Read(ref _collections);

    public static void Rented(long bytes)
    {
        Interlocked.Add(ref _outstandingBytes, bytes);

        // A burst still going: wait for its end.
        Timer.Change(Timeout.Infinite, Timeout.Infinite);
    }

    public static void Dropped(long bytes)
    {
        var outstanding = Interlocked.Add(ref _outstandingBytes, -bytes);
        var dropped = Interlocked.Add(ref _droppedBytes, bytes);
        if (outstanding <= 0 && dropped >= ReclaimAfterBytes)
        {
            Timer.Change(QuietPeriod, Timeout.InfiniteTimeSpan);
        }

        // Within a burst: the garbage must not pile up on top of what the burst's requests hold. Only the large
        // arrays' space is at stake, and byte arrays hold no references, so the collection is short.
        if (Interlocked.Add(ref _droppedSinceCollect, bytes) >= CollectWithinBurstBytes)
        {
            Interlocked.Exchange(ref _droppedSinceCollect, 0);
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
        }
    }

    private static void Reclaim()
    {
        if (OutstandingBytes > 0)
        {
            // Rented again meanwhile: its return re-arms the timer.
            return;
        }

        Interlocked.Exchange(ref _droppedBytes, 0);
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Interlocked.Increment(ref _collections);
    }
}
