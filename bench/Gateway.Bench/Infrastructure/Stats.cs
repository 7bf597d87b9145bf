namespace LlamaGateway.Bench.Infrastructure;

internal static class Stats
{
    /// <summary>Percentile by linear interpolation between closest ranks; NaN for an empty set.</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.ToArray();
        Array.Sort(sorted);
        if (sorted.Length == 1)
        {
            return sorted[0];
        }

        var rank = p / 100.0 * (sorted.Length - 1);
        var lo = (int)Math.Floor(rank);
        var hi = Math.Min(sorted.Length - 1, lo + 1);
        return sorted[lo] + ((sorted[hi] - sorted[lo]) * (rank - lo));
    }

    public static double P50(IReadOnlyList<double> values) => Percentile(values, 50);

    public static double P95(IReadOnlyList<double> values) => Percentile(values, 95);

    public static double P99(IReadOnlyList<double> values) => Percentile(values, 99);

    public static double MaxOrNaN(IReadOnlyList<double> values) => values.Count == 0 ? double.NaN : values.Max();

    public static double MeanOrNaN(IReadOnlyList<double> values) => values.Count == 0 ? double.NaN : values.Average();
}
