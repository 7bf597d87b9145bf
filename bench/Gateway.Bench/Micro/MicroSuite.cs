using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using LlamaGateway.Bench.Cache;
using LlamaGateway.Bench.Infrastructure;
using LlamaGateway.Conversations;
using LlamaGateway.Routing;
using Spectre.Console;

namespace LlamaGateway.Bench.Micro;

internal sealed record MicroOptions
{
    public int Conversations { get; init; } = 10_000;
    public required string OutputDirectory { get; init; }
    public required string CommandLine { get; init; }
    public bool Quick { get; init; }

    /// <summary>Runs only the operations whose name contains this text (for profiling one of them).</summary>
    public string? Only { get; init; }
}

/// <summary>
/// <c>micro</c>: BenchmarkDotNet (in-process, MemoryDiagnoser) for the per-request decision path on a 100 KB body, and
/// the memory that 10,000 tracked conversations take in <see cref="ConversationTable"/>.
/// </summary>
internal static class MicroSuite
{
    /// <summary>The smallest object on 64-bit .NET (header + method table + one field slot): a byte count bounds the object count.</summary>
    private const int MinObjectBytes = 24;

    public static MicroOptions Parse(Cli cli, string root, string commandLine)
    {
        var quick = cli.Flag("quick");
        return new MicroOptions
        {
            Conversations = cli.Int("conversations", 10_000),
            Only = cli.String("only"),
            OutputDirectory = cli.String("out", Path.Combine(root, "bench", "results", quick ? "quick" : string.Empty))!,
            CommandLine = commandLine,
            Quick = quick,
        };
    }

    public static async Task<int> RunAsync(MicroOptions options, MachineInfo machine, CancellationToken cancellationToken)
    {
        var job = Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithId(options.Quick ? "InProcessShort" : "InProcess");
        if (options.Quick)
        {
            job = job.WithWarmupCount(2).WithIterationCount(5);
        }

        var config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddLogger(ConsoleLogger.Default)
            .AddExporter(MarkdownExporter.GitHub)
            .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "llama-gateway-bench", "BenchmarkDotNet.Artifacts"));
        if (options.Only is { } only)
        {
            // For profiling one operation (perf record on this process); the report then lacks the other rows.
            config = config.AddFilter(new BenchmarkDotNet.Filters.SimpleFilter(b => b.Descriptor.WorkloadMethodDisplayInfo.Contains(only, StringComparison.OrdinalIgnoreCase)));
        }

        var summary = BenchmarkRunner.Run<RequestPathBenchmarks>(config);
        var rows = summary.Reports.Select(r => new Row(
            r.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo.Trim('\''),
            r.ResultStatistics?.Mean ?? double.NaN,
            r.ResultStatistics?.StandardError ?? double.NaN,
            r.GcStats.GetBytesAllocatedPerOperation(r.BenchmarkCase) ?? -1)).ToList();

        var (bytes, count) = MeasureConversationTable(options.Conversations);
        var targets = new List<(string Name, bool? Pass, string Measured)>();
        var whole = rows.FirstOrDefault(r => r.Name.StartsWith("Normalize + ", StringComparison.Ordinal));
        var bodyKb = summary.Reports.Select(r => r.BenchmarkCase.Parameters["BodyKb"]).OfType<int>().DefaultIfEmpty(100).First();
        if (whole is not null)
        {
            var micros = whole.MeanNs / 1000;
            targets.Add(("normalizer + routing decision < 100 us (100 KB body)", micros < 100, Fmt.Inv($"{micros:0.0} us (normalize + tape + fingerprint + resolve + choose)")));
            var bound = whole.AllocatedBytes / (double)MinObjectBytes / bodyKb;
            targets.Add(("< 1 allocation per KB of body", whole.AllocatedBytes < 0 ? null : bound < 1,
                Fmt.Inv($"{whole.AllocatedBytes:N0} B/op -> at most {whole.AllocatedBytes / MinObjectBytes:N0} objects = {bound:0.00} per KB (bound: bytes / {MinObjectBytes})")));
        }

        var mib = bytes / 1048576.0;
        targets.Add(($"{options.Conversations:N0} conversations < 50 MB of routing state", mib < 50, Fmt.Inv($"{mib:0.00} MiB ({bytes / (double)Math.Max(1, count):0} B per conversation, {count:N0} tracked)")));

        Directory.CreateDirectory(options.OutputDirectory);
        var path = Path.Combine(options.OutputDirectory, "micro.md");
        await File.WriteAllTextAsync(path, Report(options, machine, rows, bytes, count, targets, bodyKb, summary.HostEnvironmentInfo.BenchmarkDotNetVersion), cancellationToken);
        CacheSuite.PrintTargets(targets);
        AnsiConsole.MarkupLine($"Wrote {Markup.Escape(path)}");
        return 0;
    }

    private sealed record Row(string Name, double MeanNs, double ErrorNs, long AllocatedBytes);

    /// <summary>
    /// Bytes the conversation table holds for <paramref name="conversations"/> conversations: GC.GetTotalMemory with
    /// forced full collections before and after filling it; the fingerprints used to fill it are garbage by then (the
    /// table keeps only each conversation's tip), while ids, session strings, records, cache entries and indexes stay.
    /// </summary>
    public static (long Bytes, int Count) MeasureConversationTable(int conversations)
    {
        var options = new FixedOptionsMonitor<RoutingOptions>(new RoutingOptions { MaxConversations = Math.Max(16, conversations) });
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        var before = GC.GetTotalMemory(forceFullCollection: true);
        var table = new ConversationTable(options, TimeProvider.System);
        for (var i = 0; i < conversations; i++)
        {
            table.Resolve(RequestPathBenchmarks.SyntheticFingerprint(100_000 + i), null, null, Guid.NewGuid().ToString());
        }

        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);
        var count = table.Count;
        GC.KeepAlive(table);
        table.Dispose();
        return (after - before, count);
    }

    private static string Report(MicroOptions options, MachineInfo machine, List<Row> rows, long bytes, int count, List<(string Name, bool? Pass, string Measured)> targets, int bodyKb, string bdnVersion)
    {
        var md = new Markdown();
        md.Heading(1, "Micro benchmarks: the per-request decision path" + (options.Quick ? " (quick preset)" : string.Empty));
        md.Paragraph($"BenchmarkDotNet {bdnVersion} (in-process toolchain, MemoryDiagnoser{(options.Quick ? ", 2 warm-up + 5 measured iterations" : ", default job")}) on a real Claude Code request body of {bodyKb} KB "
            + "(the recorded follow-up turn grown with tool turns). Routing runs against a 4-slot instance whose slots hold other conversations, with 1,000 conversations already tracked.");
        md.Heading(2, "Reproduce");
        md.Code(options.CommandLine, "sh");
        md.Heading(2, "Machine");
        md.Bullets(machine.Lines($"Load average when the suite finished: {MachineInfo.LoadAverageNow()}"));
        md.Heading(2, "Targets");
        md.Table(["target", "result", "measured"], targets.Select(t => (IReadOnlyList<string>)[t.Name, t.Pass is null ? "n/a" : Fmt.PassFail(t.Pass.Value), t.Measured]));
        md.Heading(2, "Results");
        md.Table(["operation", "mean", "std. error", "allocated / op", "allocations / op (at most)", "per KB of body (at most)"], rows.Select(r => (IReadOnlyList<string>)
        [
            r.Name,
            Fmt.Inv($"{r.MeanNs / 1000:0.000} us"),
            Fmt.Inv($"{r.ErrorNs / 1000:0.000} us"),
            r.AllocatedBytes < 0 ? "n/a" : Fmt.Inv($"{r.AllocatedBytes:N0} B"),
            r.AllocatedBytes < 0 ? "n/a" : Fmt.Inv($"{r.AllocatedBytes / MinObjectBytes:N0}"),
            r.AllocatedBytes < 0 ? "n/a" : Fmt.Inv($"{r.AllocatedBytes / (double)MinObjectBytes / bodyKb:0.00}"),
        ]));
        md.Paragraph($"Allocation counts are bounds: .NET reports allocated bytes, not objects, and no object is smaller than {MinObjectBytes} bytes, so objects <= bytes / {MinObjectBytes}. "
            + "\"Resolve conversation\" re-finds an existing conversation (a follow-up turn): it re-indexes the tip and moves the conversation to the front of its identity's and the table's recency lists. "
            + "The two translations (request to chat completions, stage 4; the reply stream back, stage 5b) are shown for reference: they are per-request costs of the gateway but not part of the decision target.");
        md.Heading(2, "Routing state memory");
        md.Table(["conversations", "tracked", "bytes (GC.GetTotalMemory delta)", "per conversation"],
        [
            [count.ToString("N0", CultureInfo.InvariantCulture), count.ToString("N0", CultureInfo.InvariantCulture), Fmt.Inv($"{bytes:N0} ({bytes / 1048576.0:0.00} MiB)"), Fmt.Inv($"{bytes / (double)Math.Max(1, count):0} B")],
        ]);
        md.Paragraph($"{options.Conversations:N0} distinct conversations resolved into a fresh `ConversationTable` (MaxConversations = {Math.Max(16, options.Conversations):N0}), "
            + "each with a new session id string; forced full compacting collections before and after. The fingerprints that fed it are synthetic (24-link chains) and garbage afterwards: the table keeps only a conversation's tip.");
        return md.ToString();
    }
}
