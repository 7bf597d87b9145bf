using System.Globalization;
using LlamaGateway.Bench.Infrastructure;

namespace LlamaGateway.Bench.Cache;

/// <summary>
/// Splits the follow-up turns of a loaded cache run into what each would cost alone and what sharing the server added.
/// A solo run of the same replay (<c>cache --solo --think 0</c>) gives each variant's cost of a follow-up alone as a
/// line in the tokens it re-computes (least squares: fixed seconds + seconds per token); the loaded run's follow-ups,
/// priced by that line, give the part no scheduler can remove. The follow-up target (p50 at most 0.2x of direct's)
/// can only be met where that part is below it.
/// </summary>
internal static class FollowUpFloor
{
    private const double TargetRatio = 0.2;

    public static FloorOptions Parse(Cli cli, string commandLine)
    {
        var solo = cli.String("solo") ?? throw new ArgumentException("floor needs --solo DIR|CSV: a cache run with --solo --think 0");
        var load = cli.String("load") ?? throw new ArgumentException("floor needs --load DIR|CSV: a cache run with the users at once");
        return new FloorOptions(CsvPath(solo), CsvPath(load), cli.String("variant", "gateway-slot-save")!, cli.String("baseline", "direct")!, cli.String("out"), commandLine);
    }

    public static int Run(FloorOptions options)
    {
        var solo = FollowUps(options.SoloCsv);
        var load = FollowUps(options.LoadCsv);
        var baselineP50 = Stats.P50([.. Rows(load, options.Baseline).Select(r => r.Ttft)]);
        var target = TargetRatio * baselineP50;
        var md = new Markdown().Heading(1, "Follow-up turns: own work and waiting")
            .Paragraph($"Solo run: `{options.SoloCsv}`. Loaded run: `{options.LoadCsv}`. Reproduce: `{options.CommandLine}`")
            .Paragraph(Fmt.Inv($"Target: follow-up TTFT p50 <= {TargetRatio}x of {options.Baseline}'s p50 in the loaded run ({Fmt.Seconds(baselineP50)}) = **{Fmt.Seconds(target)}**."));
        var table = new List<IReadOnlyList<string>>();
        foreach (var variant in new[] { options.Variant, options.Baseline }.Distinct(StringComparer.Ordinal))
        {
            var soloRows = Counted(Rows(solo, variant));
            var all = Rows(load, variant);
            var rows = Counted(all);
            if (Fit(soloRows) is not { } line || rows.Count == 0)
            {
                throw new ArgumentException($"variant '{variant}' needs follow-up turns with re-computed tokens in both runs (found {soloRows.Count} solo, {rows.Count} loaded)");
            }

            List<double> own = [.. rows.Select(r => line.Seconds(r.Recomputed))];
            List<double> waited = [.. rows.Select((r, i) => r.Ttft - own[i])];
            var ownP50 = Stats.P50(own);
            var overTarget = own.Count(o => o > target);
            table.Add(
            [
                variant, Fmt.Inv($"{Fmt.F3(line.FixedSeconds)} s + {Fmt.F3(line.SecondsPerToken * 1000)} ms/token"), Fmt.N0(Stats.P50([.. rows.Select(r => r.Recomputed)])),
                Fmt.Seconds(ownP50), Fmt.Seconds(Stats.P50(waited)), Fmt.Seconds(Stats.P50([.. all.Select(r => r.Ttft)])),
                Fmt.Inv($"{overTarget} of {rows.Count} ({all.Count - rows.Count} without a token count)"), Fmt.Seconds(target - ownP50),
            ]);
        }

        md.Table(["variant", "alone (solo fit)", "re-computed tokens p50", "own work p50", "waiting p50", "TTFT p50 (all)", "own work alone over the target", "target minus own work p50"], table)
            .Paragraph("Own work: each loaded follow-up priced by its variant's solo line at the tokens it re-computed. Waiting: its TTFT minus that (batches shared with other users, slot queues, restores). A p50 under the target needs more than half of the follow-ups under it, each with its own work and its waiting: the last column is what the target leaves for the waiting of the median follow-up, and where half of them cost more than the target by their own work alone, no scheduling of the others can meet it.");
        var text = md.ToString();
        Console.Write(text);
        if (options.OutPath is { } path)
        {
            File.WriteAllText(path, text);
        }

        return 0;
    }

    /// <summary>Least-squares line through (re-computed tokens, TTFT); null with fewer than two distinct token counts.</summary>
    internal static SoloLine? Fit(IReadOnlyList<FollowUp> rows)
    {
        if (rows.Count < 2)
        {
            return null;
        }

        var meanX = rows.Average(r => r.Recomputed);
        var meanY = rows.Average(r => r.Ttft);
        var sxx = rows.Sum(r => (r.Recomputed - meanX) * (r.Recomputed - meanX));
        if (sxx <= 0)
        {
            return null;
        }

        var slope = rows.Sum(r => (r.Recomputed - meanX) * (r.Ttft - meanY)) / sxx;
        return new SoloLine(meanY - (slope * meanX), slope);
    }

    /// <summary>Successful follow-up turns from a cache run's <c>cache-requests.csv</c>.</summary>
    internal static List<FollowUp> FollowUps(string csvPath)
    {
        if (!File.Exists(csvPath))
        {
            throw new ArgumentException($"{csvPath} does not exist: give a cache run's folder or its cache-requests.csv");
        }

        var lines = File.ReadAllLines(csvPath);
        if (lines.Length == 0)
        {
            throw new ArgumentException($"{csvPath} is empty");
        }

        var header = lines[0].Split(',');
        int Column(string name) => Array.IndexOf(header, name) is var i and >= 0 ? i : throw new ArgumentException($"{csvPath} has no '{name}' column: not a cache-requests.csv");
        int variant = Column("variant"), kind = Column("kind"), status = Column("status"), ttft = Column("ttft_s"), recomputed = Column("server_recomputed");
        var rows = new List<FollowUp>();
        foreach (var line in lines.Skip(1))
        {
            // The last column (error) is the only one that may hold commas.
            var cells = line.Split(',', header.Length);
            if (cells.Length < header.Length || cells[kind] != nameof(RequestKind.MainFollowUp) || cells[status] != "200"
                || !double.TryParse(cells[ttft], CultureInfo.InvariantCulture, out var seconds))
            {
                continue;
            }

            // Turns the bench could not match to a llama-server task have no token count: they still count for the
            // TTFT percentiles, not for the line or the own-work estimate.
            var tokens = double.TryParse(cells[recomputed], CultureInfo.InvariantCulture, out var n) ? n : double.NaN;

            rows.Add(new FollowUp(cells[variant], tokens, seconds));
        }

        return rows;
    }

    private static List<FollowUp> Rows(List<FollowUp> rows, string variant) => [.. rows.Where(r => r.Variant == variant)];

    private static List<FollowUp> Counted(List<FollowUp> rows) => [.. rows.Where(r => !double.IsNaN(r.Recomputed))];

    private static string CsvPath(string path) => Directory.Exists(path) ? Path.Combine(path, "cache-requests.csv") : path;
}

internal sealed record FloorOptions(string SoloCsv, string LoadCsv, string Variant, string Baseline, string? OutPath, string CommandLine);

internal sealed record FollowUp(string Variant, double Recomputed, double Ttft);

internal sealed record SoloLine(double FixedSeconds, double SecondsPerToken)
{
    public double Seconds(double tokens) => FixedSeconds + (SecondsPerToken * tokens);
}
