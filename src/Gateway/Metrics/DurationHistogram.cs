namespace LlamaGateway.Metrics;

/// <summary>
/// A lock-free histogram of request durations with fixed buckets. Counts are kept per bucket and made cumulative
/// when written, as Prometheus wants them.
/// </summary>
internal sealed class DurationHistogram
{
    /// <summary>
    /// Upper bounds in seconds: a count_tokens answer takes milliseconds, a cold 100K-token prefill on a CPU box
    /// takes minutes, and a long generation ten.
    /// </summary>
    public static readonly double[] Bounds = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

    private readonly long[] _counts = new long[Bounds.Length + 1];
    private long _sumBits;

    public void Observe(double seconds)
    {
        var index = Array.FindIndex(Bounds, bound => seconds <= bound);
        Interlocked.Increment(ref _counts[index < 0 ? Bounds.Length : index]);

        long current, next;
        do
        {
            current = Interlocked.Read(ref _sumBits);
            next = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(current) + seconds);
        }
        while (Interlocked.CompareExchange(ref _sumBits, next, current) != current);
    }

    /// <summary>Cumulative counts for each bound and +Inf (last), with the sum and count, read consistently enough
    /// that the +Inf bucket always equals the count.</summary>
    public (long[] Cumulative, double Sum, long Count) Read()
    {
        var cumulative = new long[_counts.Length];
        long running = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            running += Interlocked.Read(ref _counts[i]);
            cumulative[i] = running;
        }

        // Observations racing with this read may have bumped a bucket but not yet the sum: report the buckets' total
        // as the count so the exposition stays self-consistent.
        return (cumulative, BitConverter.Int64BitsToDouble(Interlocked.Read(ref _sumBits)), running);
    }
}
