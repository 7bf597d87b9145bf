using System.Diagnostics;
using System.Globalization;
using LlamaGateway.Bench.Cache;
using LlamaGateway.Bench.Hosting;
using LlamaGateway.Bench.Infrastructure;
using Spectre.Console;

namespace LlamaGateway.Bench.Overhead;

internal sealed record OverheadOptions
{
    public required IReadOnlyList<int> Concurrency { get; init; }
    public required IReadOnlyList<int> SizesKb { get; init; }
    public int Requests { get; init; } = 3000;
    public int Warmup { get; init; } = 600;

    /// <summary>
    /// Warm-up lasts at least this long as well: the JIT's tiering (tier 0, instrumented, then optimized code, compiled
    /// in the background) takes seconds on 2 busy cores, and 600 requests at concurrency 64 are over in a fraction of
    /// one; the measured numbers would then be of half-compiled code, which a running gateway does not have.
    /// </summary>
    public double WarmupSeconds { get; init; } = 5;

    /// <summary>
    /// Warm-up also lasts until no process in the run (client, proxy, upstream) has compiled more than a few methods
    /// over the last few seconds, but no longer than this.
    /// </summary>
    public double MaxWarmupSeconds { get; init; } = 90;

    /// <summary>Measurement lasts at least this long as well, so a run is not over before the noise averages out.</summary>
    public double MeasureSeconds { get; init; } = 8;
    public string GatewayLogLevel { get; init; } = "shipped";
    public string GatewayDialect { get; init; } = "openai";
    public int UpstreamSlots { get; init; } = 128;
    public required IReadOnlyList<string> Targets { get; init; }
    public required string OutputDirectory { get; init; }
    public required string CommandLine { get; init; }
    public bool Quick { get; init; }

    /// <summary>How many times every (target, concurrency) run is repeated, the targets taking turns.</summary>
    public int Rounds { get; init; } = 3;

    /// <summary>
    /// Pairs of short back-to-back windows, yarp and gateway, at the highest concurrency after the rounds (0: none). The
    /// throughput target is judged on them: a round's yarp and gateway runs are tens of seconds apart (each has its own
    /// warm-up), and this machine's speed drifts that much within a minute.
    /// </summary>
    public int PairedWindows { get; init; } = 10;

    public double WindowSeconds { get; init; } = 3;
}

/// <summary>One pair of the paired windows: yarp and gateway measured back to back, in the order given.</summary>
internal sealed record PairedWindow(int Pair, bool GatewayFirst, LoadRun Yarp, LoadRun Gateway)
{
    public double Ratio => Gateway.RequestsPerSecond / Yarp.RequestsPerSecond;
}

/// <summary>One (target, concurrency) run: per-request latencies by body size, and the run's throughput.</summary>
internal sealed record LoadRun(string Target, int Concurrency, double Seconds, int Requests, int Failed, Dictionary<int, List<double>> LatencyMsBySize, Dictionary<int, List<double>> TtfbMsBySize)
{
    public string? FirstError { get; init; }

    /// <summary>CPU time of each process over the measured window, in microseconds per request (NaN: not measured).</summary>
    public double ProxyCpuUsPerRequest { get; init; } = double.NaN;

    public double UpstreamCpuUsPerRequest { get; init; } = double.NaN;

    /// <summary>Which round of the suite this run belongs to (1-based).</summary>
    public int Round { get; init; } = 1;

    /// <summary>How long the warm-up took (the JIT settling decides most of it).</summary>
    public double WarmupSeconds { get; init; }

    /// <summary>Methods the proxy's JIT compiled during the measured window (-1: no proxy).</summary>
    public long ProxyJitDuringMeasure { get; init; } = -1;

    public double ClientCpuUsPerRequest { get; init; } = double.NaN;

    /// <summary>The proxy's context switches (voluntary, involuntary) per request over the measured window, and its thread count at the end (NaN/-1: no proxy, or threads exited during the window).</summary>
    public double ProxyVoluntarySwitchesPerRequest { get; init; } = double.NaN;

    public double ProxyInvoluntarySwitchesPerRequest { get; init; } = double.NaN;

    public int ProxyThreads { get; init; } = -1;

    public double RequestsPerSecond => Requests / Seconds;

    public List<double> All => [.. LatencyMsBySize.Values.SelectMany(v => v)];
}

/// <summary>
/// <c>overhead</c>: what the gateway adds on top of the network, against a zero-work upstream on loopback, compared
/// with going direct and with a plain YARP <c>IHttpForwarder</c> pass-through (the floor for a .NET proxy). The
/// upstream and each proxy run in their own processes, so the peak RSS reported is that process's alone.
/// </summary>
internal static class OverheadSuite
{
    /// <summary>
    /// How long every process must compile fewer than 5 methods before the warm-up ends. Tiered compilation promotes
    /// methods in waves; with 3 s a run once ended its warm-up between two of them and measured the gateway while it
    /// compiled 180 more methods (bench/results/CHANGELOG.md, 2026-12-02).
    /// </summary>
    private const double JitQuietSeconds = 6;

    /// <summary>direct, yarp and gateway are the comparison; the others are diagnostics that isolate a cost:
    /// gateway-quiet logs only warnings, gateway-anthropic forwards /v1/messages without translation (and without
    /// slot pinning), yarp-large-blocks is plain YARP with the gateway's 32 KiB read blocks.</summary>
    public static readonly string[] KnownTargets = ["direct", "yarp", "gateway", "gateway-quiet", "gateway-anthropic", "yarp-large-blocks"];

    public static OverheadOptions Parse(Cli cli, string root, string commandLine)
    {
        var quick = cli.Flag("quick");
        return new OverheadOptions
        {
            Concurrency = cli.Ints("concurrency", [1, 16, 64]),
            SizesKb = cli.Ints("sizes", [40, 100, 200]),
            Requests = cli.Int("requests", quick ? 600 : 3000),
            Warmup = cli.Int("warmup", quick ? 150 : 600),
            WarmupSeconds = cli.Double("warmup-seconds", quick ? 1 : 5),
            MaxWarmupSeconds = cli.Double("max-warmup-seconds", quick ? 5 : 90),
            Rounds = Math.Max(1, cli.Int("rounds", quick ? 1 : 3)),
            PairedWindows = Math.Max(0, cli.Int("paired-windows", quick ? 0 : 10)),
            WindowSeconds = cli.Double("window-seconds", 3),
            MeasureSeconds = cli.Double("measure-seconds", quick ? 1 : 8),
            GatewayLogLevel = cli.String("gateway-log", "shipped")!,
            GatewayDialect = cli.String("gateway-dialect", "openai")!,
            UpstreamSlots = cli.Int("upstream-slots", 128),
            Targets = ValidTargets(cli.Strings("targets", ["direct", "yarp", "gateway"])),
            OutputDirectory = cli.String("out", Path.Combine(root, "bench", "results", quick ? "quick" : string.Empty))!,
            CommandLine = commandLine,
            Quick = quick,
        };
    }

    private static List<string> ValidTargets(List<string> targets)
    {
        foreach (var target in targets)
        {
            if (!KnownTargets.Contains(target))
            {
                throw new ArgumentException($"--targets: unknown target '{target}' (known: {string.Join(", ", KnownTargets)})");
            }
        }

        if (!targets.Contains("direct"))
        {
            targets.Insert(0, "direct"); // added latency is measured against it
        }

        return targets;
    }

    public static async Task<int> RunAsync(OverheadOptions options, MachineInfo machine, CancellationToken cancellationToken)
    {
        var maxClients = options.Concurrency.Max();
        AnsiConsole.MarkupLine($"[bold]overhead[/]: >= {options.Requests} requests and {options.MeasureSeconds:0.#} s per run after >= {options.Warmup} requests and {options.WarmupSeconds:0.#} s of warm-up, concurrency {string.Join("/", options.Concurrency)}, bodies {string.Join("/", options.SizesKb)} KB");
        var bodies = new Dictionary<int, byte[][]>();
        foreach (var kb in options.SizesKb)
        {
            bodies[kb] = [.. Enumerable.Range(0, maxClients).Select(c => OverheadBodies.Build(kb * 1024, c))];
        }

        AnsiConsole.MarkupLine("bodies: " + string.Join(", ", bodies.Select(kv => $"{kv.Key} KB -> {kv.Value.Average(b => b.Length) / 1024:0.0} KB")));

        var upstreamJit = JitProgress.ForHost();
        await using var upstream = ChildProcess.StartSelf("zero upstream", ["host", "zero", "--slots", options.UpstreamSlots.ToString(CultureInfo.InvariantCulture)], upstreamJit.OnLine);
        var upstreamUrl = await ListeningUrlAsync(upstream, cancellationToken);

        // Every proxy runs for the whole suite; the targets take turns, round after round. This machine's speed drifts
        // by tens of percent over minutes (a shared VM), so the comparisons are made within a round and the median
        // round is reported.
        var proxies = new Dictionary<string, (ChildProcess? Process, JitProgress Jit, string Url)>();
        var runs = new List<LoadRun>();
        var pairs = new List<PairedWindow>();
        var loads = new Dictionary<string, LoadClient>();
        var memory = new Dictionary<string, (long Peak, long AfterRuns)>();
        try
        {
            foreach (var target in options.Targets)
            {
                var proxyJit = JitProgress.ForHost();
                if (target == "direct")
                {
                    proxies[target] = (null, proxyJit, upstreamUrl);
                    continue;
                }

                var isYarp = target is "yarp" or "yarp-large-blocks";
                var args = new List<string> { "host", isYarp ? target : "gateway", "--upstream", upstreamUrl };
                if (!isYarp)
                {
                    args.AddRange(["--slots", options.UpstreamSlots.ToString(CultureInfo.InvariantCulture),
                        "--log-level", target == "gateway-quiet" ? "Warning" : options.GatewayLogLevel,
                        "--dialect", target == "gateway-anthropic" ? "anthropic" : options.GatewayDialect]);
                }

                var proxy = ChildProcess.StartSelf(target, args, proxyJit.OnLine);
                proxies[target] = (proxy, proxyJit, string.Empty);
                proxies[target] = (proxy, proxyJit, await ListeningUrlAsync(proxy, cancellationToken));
            }

            foreach (var (target, (_, _, url)) in proxies)
            {
                loads[target] = new LoadClient(target, url, options.SizesKb, bodies);
            }

            for (var round = 1; round <= options.Rounds; round++)
            {
                foreach (var target in options.Targets)
                {
                    var (proxy, proxyJit, url) = proxies[target];
                    foreach (var concurrency in options.Concurrency)
                    {
                        var jit = new List<JitProgress> { upstreamJit };
                        if (proxy is not null)
                        {
                            jit.Add(proxyJit);
                        }

                        var run = await LoadAsync(loads[target], concurrency, options, proxy, upstream, jit, cancellationToken) with { Round = round };
                        runs.Add(run);
                        AnsiConsole.MarkupLine(Markup.Escape($"  round {round} {target,-8} c={concurrency,-3} {run.RequestsPerSecond,8:0} req/s  p50 {Stats.P50(run.All):0.000} ms  p99 {Stats.P99(run.All):0.000} ms  proxy cpu {Us(run.ProxyCpuUsPerRequest)}/req  switches {Switches(run.ProxyVoluntarySwitchesPerRequest)}+{Switches(run.ProxyInvoluntarySwitchesPerRequest)}/req  threads {(run.ProxyThreads < 0 ? "-" : run.ProxyThreads)}  warm-up {run.WarmupSeconds:0} s  failed {run.Failed}{(run.FirstError is null ? string.Empty : " (first: " + run.FirstError + ")")}"));
                        if (run.Failed > 0 && proxy is not null)
                        {
                            AnsiConsole.WriteLine("  last lines of its output:\n" + string.Join('\n', proxy.Tail().Split('\n').TakeLast(8)));
                        }
                    }
                }
            }

            if (options.PairedWindows > 0 && proxies.TryGetValue("yarp", out var yarp) && proxies.TryGetValue("gateway", out var gateway))
            {
                pairs = await PairedWindowsAsync(loads["yarp"], yarp.Process!, loads["gateway"], gateway.Process!, upstream, options, cancellationToken);
            }

            foreach (var (target, (proxy, _, _)) in proxies)
            {
                memory[target] = proxy?.Memory() ?? (-1, -1);
            }
        }
        finally
        {
            foreach (var load in loads.Values)
            {
                load.Dispose();
            }

            foreach (var (proxy, _, _) in proxies.Values)
            {
                if (proxy is not null)
                {
                    await proxy.DisposeAsync();
                }
            }
        }

        memory["upstream"] = upstream.Memory();
        Directory.CreateDirectory(options.OutputDirectory);
        var targets = EvaluateTargets(runs, pairs, options);
        var median = MedianRounds(runs);
        var markdownPath = Path.Combine(options.OutputDirectory, "overhead.md");
        await File.WriteAllTextAsync(markdownPath, Report(options, machine, bodies, runs, median, pairs, memory, targets), cancellationToken);
        var pngPath = Path.Combine(options.OutputDirectory, "overhead.png");
        Chart(pngPath, options, median, memory);
        CacheSuite.PrintTargets(targets.Select(t => (t.Name, t.Pass, t.Measured)));
        AnsiConsole.MarkupLine($"Wrote {Markup.Escape(markdownPath)} and {Markup.Escape(pngPath)}");
        return 0;
    }

    private static async Task<string> ListeningUrlAsync(ChildProcess process, CancellationToken cancellationToken)
    {
        var line = await process.WaitForLineAsync(l => l.StartsWith(HostCommand.ReadyPrefix, StringComparison.Ordinal), TimeSpan.FromSeconds(60), cancellationToken);
        return line[HostCommand.ReadyPrefix.Length..].Trim();
    }

    /// <summary>
    /// After the rounds, with every process warm: yarp and gateway at the highest concurrency in short windows back to
    /// back, in the order yarp-gateway, gateway-yarp, yarp-gateway, ... so that a steady drift of the machine's speed
    /// favours neither. A pair's two windows are seconds apart, where a round's two runs are tens of seconds apart.
    /// </summary>
    private static async Task<List<PairedWindow>> PairedWindowsAsync(LoadClient yarp, ChildProcess yarpProcess, LoadClient gateway, ChildProcess gatewayProcess,
        ChildProcess upstream, OverheadOptions options, CancellationToken cancellationToken)
    {
        var concurrency = options.Concurrency.Max();
        var window = TimeSpan.FromSeconds(options.WindowSeconds);
        AnsiConsole.MarkupLine($"paired windows: {options.PairedWindows} x (yarp, gateway) at c={concurrency}, {options.WindowSeconds:0.#} s each, alternating which goes first");
        var pairs = new List<PairedWindow>();
        for (var pair = 1; pair <= options.PairedWindows; pair++)
        {
            var gatewayFirst = pair % 2 == 0;
            Task<LoadRun> Measure(LoadClient load, ChildProcess process) => load.MeasureAsync(concurrency, 0, window, process, upstream, cancellationToken);
            LoadRun yarpRun, gatewayRun;
            if (gatewayFirst)
            {
                gatewayRun = await Measure(gateway, gatewayProcess);
                yarpRun = await Measure(yarp, yarpProcess);
            }
            else
            {
                yarpRun = await Measure(yarp, yarpProcess);
                gatewayRun = await Measure(gateway, gatewayProcess);
            }

            var result = new PairedWindow(pair, gatewayFirst, yarpRun, gatewayRun);
            pairs.Add(result);
            AnsiConsole.MarkupLine(Markup.Escape($"  pair {pair,2} ({(gatewayFirst ? "gateway first" : "yarp first   ")})  yarp {yarpRun.RequestsPerSecond,6:0} req/s ({Us(yarpRun.ProxyCpuUsPerRequest)}/req)  gateway {gatewayRun.RequestsPerSecond,6:0} req/s ({Us(gatewayRun.ProxyCpuUsPerRequest)}/req)  ratio {result.Ratio * 100:0} %  failed {yarpRun.Failed + gatewayRun.Failed}"));
        }

        return pairs;
    }

    /// <summary>Closed loop: <paramref name="concurrency"/> clients, each with its own conversation, sending back to
    /// back (cycling the body sizes) until the run's request budget is spent; warm-up requests first, unmeasured.</summary>
    private static async Task<LoadRun> LoadAsync(LoadClient load, int concurrency, OverheadOptions options,
        ChildProcess? proxy, ChildProcess upstream, IReadOnlyList<JitProgress> hostJit, CancellationToken cancellationToken)
    {
        // Warm-up: JIT, connection pools, the gateway's conversation table. It ends once every process's JIT has
        // settled (fewer than 5 methods compiled in the last JitQuietSeconds), which a polling task decides while
        // clients send.
        var warm = 0;
        var warmClock = Stopwatch.StartNew();
        var warmFor = TimeSpan.FromSeconds(options.WarmupSeconds);
        var maxWarm = TimeSpan.FromSeconds(Math.Max(options.MaxWarmupSeconds, options.WarmupSeconds));
        var clientJit = JitProgress.ForThisProcess();
        var jitQuiet = TimeSpan.FromSeconds(JitQuietSeconds);
        var settled = 0;
        using var warmDone = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            using var tick = new PeriodicTimer(HostCommand.JitReportInterval);
            while (await tick.WaitForNextTickAsync(warmDone.Token).ConfigureAwait(false))
            {
                clientJit.Sample();
                var all = clientJit.SettledFor(jitQuiet, 5);
                foreach (var host in hostJit)
                {
                    all &= host.SettledFor(jitQuiet, 5);
                }

                if (all || warmClock.Elapsed >= maxWarm)
                {
                    Volatile.Write(ref settled, 1);
                    return;
                }
            }
        }, CancellationToken.None);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async c =>
        {
            while (Interlocked.Increment(ref warm) <= options.Warmup || warmClock.Elapsed < warmFor || Volatile.Read(ref settled) == 0)
            {
                await load.SendOneAsync(c, warm, cancellationToken);
            }
        }));
        warmDone.Cancel();
        try
        {
            await watcher;
        }
        catch (OperationCanceledException)
        {
        }

        var warmupSeconds = warmClock.Elapsed.TotalSeconds;
        var proxyJitBefore = hostJit.Count > 1 ? hostJit[^1].Latest : -1;
        var run = await load.MeasureAsync(concurrency, options.Requests, TimeSpan.FromSeconds(options.MeasureSeconds), proxy, upstream, cancellationToken);
        return run with
        {
            WarmupSeconds = warmupSeconds,
            ProxyJitDuringMeasure = proxyJitBefore < 0 ? -1 : hostJit[^1].Latest - proxyJitBefore,
        };
    }

    internal sealed record Target(string Name, bool? Pass, string Measured, string Why);

    /// <summary>
    /// Each target is judged within a round (proxy and direct measured minutes apart at most) and the median over the
    /// rounds is the result; every round's value is shown.
    /// </summary>
    private static List<Target> EvaluateTargets(List<LoadRun> runs, List<PairedWindow> pairs, OverheadOptions options)
    {
        var list = new List<Target>();
        var rounds = runs.Select(r => r.Round).Distinct().Order().ToList();
        LoadRun? Find(string target, int concurrency, int round) => runs.FirstOrDefault(r => r.Target == target && r.Concurrency == concurrency && r.Round == round);
        string Each(IEnumerable<double> values, Func<double, string> format) => rounds.Count == 1 ? string.Empty : " (rounds: " + string.Join(", ", values.Select(format)) + ")";

        const int Kb = 100;
        var latency = rounds.Select(round => (Direct: Find("direct", 1, round), Gateway: Find("gateway", 1, round)))
            .Where(p => p.Direct is not null && p.Gateway is not null && p.Direct.LatencyMsBySize.ContainsKey(Kb)).ToList();
        if (latency.Count > 0)
        {
            var failed = latency.Sum(p => p.Gateway!.Failed);
            var p50s = latency.Select(p => Stats.P50(p.Gateway!.LatencyMsBySize[Kb]) - Stats.P50(p.Direct!.LatencyMsBySize[Kb])).ToList();
            var p99s = latency.Select(p => Stats.P99(p.Gateway!.LatencyMsBySize[Kb]) - Stats.P99(p.Direct!.LatencyMsBySize[Kb])).ToList();
            var p50 = Median(p50s);
            var p99 = Median(p99s);
            list.Add(new Target("gateway added latency p50 <= 0.5 ms (100 KB body, concurrency 1)", failed == 0 && p50 <= 0.5,
                Fmt.Ms(p50) + Each(p50s, Fmt.Ms) + (failed > 0 ? $"; {failed} requests failed" : string.Empty), "gateway p50 minus direct p50 in the same round, full response time; median round"));
            list.Add(new Target("gateway added latency p99 <= 3 ms (100 KB body, concurrency 1)", failed == 0 && p99 <= 3, Fmt.Ms(p99) + Each(p99s, Fmt.Ms), "gateway p99 minus direct p99 in the same round; median round"));
        }
        else
        {
            list.Add(new Target("added latency at concurrency 1 (100 KB)", null, "not measured", "needs --concurrency including 1 and --sizes including 100"));
        }

        var c = options.Concurrency.Max();
        var throughput = rounds.Select(round => (Yarp: Find("yarp", c, round), Gateway: Find("gateway", c, round)))
            .Where(p => p.Yarp is not null && p.Gateway is not null).ToList();
        if (throughput.Count > 0)
        {
            var failed = throughput.Sum(p => p.Gateway!.Failed);
            var ratios = throughput.Select(p => p.Gateway!.RequestsPerSecond / p.Yarp!.RequestsPerSecond).ToList();
            var ratio = Median(ratios);
            var middle = throughput[ratios.IndexOf(ratio) is var i and >= 0 ? i : 0];
            var byRound = $"{ratio * 100:0} %" + Each(ratios, r => $"{r * 100:0} %")
                + $"; median round {middle.Gateway!.RequestsPerSecond:0} vs {middle.Yarp!.RequestsPerSecond:0} req/s" + (failed > 0 ? $"; {failed} failed" : string.Empty)
                + (double.IsNaN(middle.Gateway.ProxyCpuUsPerRequest) ? string.Empty : $", proxy CPU per request {Us(middle.Gateway.ProxyCpuUsPerRequest)} vs {Us(middle.Yarp.ProxyCpuUsPerRequest)}");
            if (pairs.Count > 0)
            {
                // The pairs judge: their two windows are seconds apart, a round's two runs tens of seconds.
                var pairFailed = pairs.Sum(p => p.Gateway.Failed);
                var pairRatios = pairs.Select(p => p.Ratio).Order().ToList();
                var pairRatio = Stats.P50(pairRatios);
                list.Add(new Target($"gateway throughput at concurrency {c} >= 80% of plain YARP", failed + pairFailed == 0 && pairRatio >= 0.8,
                    $"{pairRatio * 100:0} % over {pairs.Count} paired windows (quartiles {Stats.Percentile(pairRatios, 25) * 100:0}-{Stats.Percentile(pairRatios, 75) * 100:0} %, range {pairRatios[0] * 100:0}-{pairRatios[^1] * 100:0} %)"
                    + (pairFailed > 0 ? $"; {pairFailed} failed" : string.Empty) + $"; rounds: {byRound}",
                    $"closed loop, mixed body sizes; median over pairs of {options.WindowSeconds:0.#} s windows back to back (gateway over YARP), after the rounds"));
            }
            else
            {
                list.Add(new Target($"gateway throughput at concurrency {c} >= 80% of plain YARP", failed == 0 && ratio >= 0.8, byRound,
                    "closed loop, mixed body sizes; gateway over YARP in the same round, median round"));
            }
        }

        return list;
    }

    /// <summary>The median of an odd count is one of the values (so a round can be named); of an even count, the lower middle.</summary>
    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[(sorted.Count - 1) / 2];
    }

    /// <summary>Per (target, concurrency), the run of the round with the median throughput: what the tables and chart show.</summary>
    private static List<LoadRun> MedianRounds(List<LoadRun> runs) =>
    [
        .. runs.GroupBy(r => (r.Target, r.Concurrency)).Select(g =>
        {
            var ordered = g.OrderBy(r => r.RequestsPerSecond).ToList();
            return ordered[(ordered.Count - 1) / 2];
        }),
    ];

    private static string Report(OverheadOptions options, MachineInfo machine, Dictionary<int, byte[][]> bodies, List<LoadRun> allRuns, List<LoadRun> runs, List<PairedWindow> pairs, Dictionary<string, (long Peak, long AfterRuns)> memory, List<Target> targets)
    {
        var md = new Markdown();
        md.Heading(1, "Gateway overhead against a zero-work upstream" + (options.Quick ? " (quick preset)" : string.Empty));
        md.Paragraph("A llama-server stand-in that does no work streams a fixed reply (9 SSE events, flushed one by one). Three ways to reach it over loopback: "
            + "**direct**; **yarp**, a plain YARP `IHttpForwarder` pass-through with the default transformer and no logging (the floor for a .NET proxy); "
            + $"**gateway**, the real gateway (`GatewayApplication`, {options.GatewayDialect} dialect upstream, so it normalizes, fingerprints, routes to a slot, translates the request to chat completions and the stream back, and logs to its console {(options.GatewayLogLevel == "shipped" ? "with the levels of the repository's appsettings.json, as shipped" : "at level " + options.GatewayLogLevel)}). "
            + "The upstream and each proxy are separate processes started by this bench (`LlamaGateway.Bench host ...`); the load generator is the bench process itself. "
            + "Diagnostic targets, when run: **gateway-quiet** = the gateway logging warnings only; **gateway-anthropic** = the gateway with an anthropic-dialect upstream (no translation, no slot pinning); **yarp-large-blocks** = plain YARP with the gateway's 32 KiB Kestrel read blocks.");
        md.Heading(2, "Reproduce");
        md.Code(options.CommandLine, "sh");
        md.Heading(2, "Machine");
        md.Bullets(machine.Lines($"Load average when the suite finished: {MachineInfo.LoadAverageNow()}. Client, proxy and upstream share the 2 cores, so absolute numbers are low; compare the rows."));
        md.Heading(2, "Method");
        md.Bullets(
        [
            $"Bodies: real Claude Code requests (the recorded follow-up turn) grown with Read/Bash tool turns, or with fewer tools below a full request's ~54 KB: {string.Join(", ", bodies.Select(kv => $"{kv.Key} KB ({kv.Value.Average(b => b.Length) / 1024:0.0} KB actual)"))}; every client has its own conversation",
            $"Closed loop: N clients send back to back, cycling through the sizes; per (target, concurrency) a warm-up of at least {options.Warmup} requests and {options.WarmupSeconds:0.#} s that goes on until the JIT has settled in every process (fewer than 5 methods compiled in {JitQuietSeconds:0} s; at most {options.MaxWarmupSeconds:0} s): tiered compilation of the hot paths runs in the background for tens of seconds on 2 loaded cores, and a gateway that has been running has none of it; then at least {options.Requests} measured requests and {options.MeasureSeconds:0.#} s",
            $"{options.Rounds} round(s): every proxy process runs for the whole suite and the targets take turns, round after round, because this shared machine's speed drifts by tens of percent over minutes. Targets compare a proxy with direct or YARP within one round and report the median round; the tables below show, per (target, concurrency), the round with the median throughput, and the rounds table shows them all",
            "Latency = send to the last byte of the response stream (client side). Added latency = proxy percentile minus direct percentile at the same concurrency and body size, in the same round",
            $"Peak RSS = VmHWM of the proxy's own process over all its runs; the zero upstream gets {options.UpstreamSlots} slots (`/props`) so the gateway never queues for a slot",
            options.PairedWindows > 0
                ? $"Paired windows (judge the throughput target): after the rounds, with every process warm, yarp and gateway run {options.PairedWindows} times each at concurrency {options.Concurrency.Max()} in {options.WindowSeconds:0.#} s windows back to back, no warm-up between, alternating which of the two goes first; each pair gives the gateway's throughput over YARP's, and the target takes the median pair"
                : "No paired windows (--paired-windows 0): the throughput target takes the median round",
        ]);
        md.Heading(2, "Targets");
        md.Table(["target", "result", "measured", "how"], targets.Select(t => (IReadOnlyList<string>)[t.Name, t.Pass is null ? "n/a" : Fmt.PassFail(t.Pass.Value), t.Measured, t.Why]));

        md.Heading(2, "Throughput and latency");
        var header = new List<string> { "target", "concurrency", "requests/s", "failed", "latency p50", "p99" };
        header.AddRange(options.SizesKb.SelectMany(kb => new[] { $"{kb} KB p50", $"{kb} KB p99" }));
        md.Table(header, runs.Select(r =>
        {
            var row = new List<string> { r.Target + (options.Rounds > 1 ? $" (round {r.Round})" : string.Empty), r.Concurrency.ToString(CultureInfo.InvariantCulture), r.RequestsPerSecond.ToString("0", CultureInfo.InvariantCulture), r.Failed.ToString(CultureInfo.InvariantCulture), Fmt.Ms(Stats.P50(r.All)), Fmt.Ms(Stats.P99(r.All)) };
            row.AddRange(options.SizesKb.SelectMany(kb => new[] { Fmt.Ms(Stats.P50(r.LatencyMsBySize[kb])), Fmt.Ms(Stats.P99(r.LatencyMsBySize[kb])) }));
            return (IReadOnlyList<string>)row;
        }));

        md.Heading(2, "Added latency over direct");
        var added = new List<string> { "proxy", "concurrency" };
        added.AddRange(options.SizesKb.SelectMany(kb => new[] { $"{kb} KB p50", $"{kb} KB p99" }));
        md.Table(added, runs.Where(r => r.Target != "direct").Select(r =>
        {
            var direct = allRuns.First(d => d.Target == "direct" && d.Concurrency == r.Concurrency && d.Round == r.Round);
            var row = new List<string> { r.Target, r.Concurrency.ToString(CultureInfo.InvariantCulture) };
            row.AddRange(options.SizesKb.SelectMany(kb => new[]
            {
                Fmt.Ms(Stats.P50(r.LatencyMsBySize[kb]) - Stats.P50(direct.LatencyMsBySize[kb])),
                Fmt.Ms(Stats.P99(r.LatencyMsBySize[kb]) - Stats.P99(direct.LatencyMsBySize[kb])),
            }));
            return (IReadOnlyList<string>)row;
        }));

        md.Heading(2, "CPU per request");
        md.Paragraph("Each process's own CPU time (user + system, from the kernel) over the measured window, divided by the requests completed in it. "
            + "With client, proxy and upstream sharing the machine's cores, throughput at high concurrency follows the sum of the three; the proxy column is the proxy's own cost, independent of that sharing. "
            + "Context switches are summed over the proxy's live threads (/proc/PID/task/*/status): voluntary ones are waits, involuntary ones the scheduler taking the core; \"-\" where a thread exited during the window and took its counts with it.");
        md.Table(["target", "concurrency", "proxy CPU / request", "upstream CPU / request", "client CPU / request", "proxy context switches / request (voluntary + involuntary)", "proxy threads", "warm-up", "methods the proxy JIT-compiled while measured"], runs.Select(r => (IReadOnlyList<string>)
        [
            r.Target, r.Concurrency.ToString(CultureInfo.InvariantCulture), Us(r.ProxyCpuUsPerRequest), Us(r.UpstreamCpuUsPerRequest), Us(r.ClientCpuUsPerRequest),
            $"{Switches(r.ProxyVoluntarySwitchesPerRequest)} + {Switches(r.ProxyInvoluntarySwitchesPerRequest)}",
            r.ProxyThreads < 0 ? "-" : r.ProxyThreads.ToString(CultureInfo.InvariantCulture),
            r.WarmupSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s", r.ProxyJitDuringMeasure < 0 ? "-" : r.ProxyJitDuringMeasure.ToString(CultureInfo.InvariantCulture),
        ]));

        if (options.Rounds > 1)
        {
            md.Heading(2, "Rounds");
            md.Paragraph("Requests per second (and the proxy's CPU time per request) of every run, in the order they ran.");
            var roundHeader = new List<string> { "round" };
            roundHeader.AddRange(options.Targets.SelectMany(t => options.Concurrency.Select(c => $"{t} c={c}")));
            md.Table(roundHeader, allRuns.Select(r => r.Round).Distinct().Order().Select(round =>
            {
                var row = new List<string> { round.ToString(CultureInfo.InvariantCulture) };
                row.AddRange(options.Targets.SelectMany(t => options.Concurrency.Select(c =>
                    allRuns.FirstOrDefault(r => r.Round == round && r.Target == t && r.Concurrency == c) is { } run
                        ? run.RequestsPerSecond.ToString("0", CultureInfo.InvariantCulture) + (double.IsNaN(run.ProxyCpuUsPerRequest) ? string.Empty : $" ({Us(run.ProxyCpuUsPerRequest)})")
                        : "-")));
                return (IReadOnlyList<string>)row;
            }));
        }

        if (pairs.Count > 0)
        {
            md.Heading(2, "Paired windows");
            md.Paragraph($"Concurrency {options.Concurrency.Max()}, {options.WindowSeconds:0.#} s per window, in the order they ran; CPU is each process's own per request in that window.");
            md.Table(["pair", "order", "yarp req/s", "gateway req/s", "gateway / yarp", "yarp proxy CPU / request", "gateway proxy CPU / request", "upstream CPU / request (yarp, gateway)", "client CPU / request (yarp, gateway)", "failed"],
                pairs.Select(p => (IReadOnlyList<string>)
                [
                    p.Pair.ToString(CultureInfo.InvariantCulture), p.GatewayFirst ? "gateway, yarp" : "yarp, gateway",
                    p.Yarp.RequestsPerSecond.ToString("0", CultureInfo.InvariantCulture), p.Gateway.RequestsPerSecond.ToString("0", CultureInfo.InvariantCulture),
                    $"{p.Ratio * 100:0} %", Us(p.Yarp.ProxyCpuUsPerRequest), Us(p.Gateway.ProxyCpuUsPerRequest),
                    $"{Us(p.Yarp.UpstreamCpuUsPerRequest)}, {Us(p.Gateway.UpstreamCpuUsPerRequest)}", $"{Us(p.Yarp.ClientCpuUsPerRequest)}, {Us(p.Gateway.ClientCpuUsPerRequest)}",
                    (p.Yarp.Failed + p.Gateway.Failed).ToString(CultureInfo.InvariantCulture),
                ]));
        }

        md.Heading(2, "Memory");
        md.Table(["process", "peak RSS (VmHWM)", "RSS after the runs"], memory.Select(kv => (IReadOnlyList<string>)[kv.Key, kv.Value.Peak < 0 ? "n/a" : Fmt.Mib(kv.Value.Peak), kv.Value.AfterRuns < 0 ? "n/a" : Fmt.Mib(kv.Value.AfterRuns)]));
        md.Paragraph("Chart: `overhead.png` beside this file.");
        return md.ToString();
    }

    private static string Us(double value) => double.IsNaN(value) ? "-" : value.ToString("0", CultureInfo.InvariantCulture) + " us";

    private static string Switches(double value) => double.IsNaN(value) ? "-" : value.ToString("0.00", CultureInfo.InvariantCulture);

    private static void Chart(string path, OverheadOptions options, List<LoadRun> runs, Dictionary<string, (long Peak, long AfterRuns)> memory)
    {
        var groups = options.Concurrency.Select(c => $"c={c}").ToList();
        var series = options.Targets.ToList();
        double Get(string target, int c, Func<LoadRun, double> f) => runs.FirstOrDefault(r => r.Target == target && r.Concurrency == c) is { } run ? f(run) : double.NaN;
        double Added(string target, int c, int kb, double p) => target == "direct" ? double.NaN
            : Get(target, c, r => Stats.Percentile(r.LatencyMsBySize[kb], p)) - Get("direct", c, r => Stats.Percentile(r.LatencyMsBySize[kb], p));
        var kb100 = options.SizesKb.Contains(100) ? 100 : options.SizesKb[0];
        var throughput = new BarPanel("REQUESTS PER SECOND", groups, series, [.. options.Concurrency.Select(c => series.Select(t => Get(t, c, r => r.RequestsPerSecond)).ToArray())], v => v.ToString("0", CultureInfo.InvariantCulture));
        var p50 = new BarPanel($"ADDED LATENCY P50, {kb100} KB (MS)", groups, series, [.. options.Concurrency.Select(c => series.Select(t => Added(t, c, kb100, 50)).ToArray())], v => v.ToString("0.00", CultureInfo.InvariantCulture)) { Reference = (0.5, "TARGET 0.5 MS AT C=1") };
        var p99 = new BarPanel($"ADDED LATENCY P99, {kb100} KB (MS)", groups, series, [.. options.Concurrency.Select(c => series.Select(t => Added(t, c, kb100, 99)).ToArray())], v => v.ToString("0.0", CultureInfo.InvariantCulture)) { Reference = (3, "TARGET 3 MS AT C=1") };
        var rss = new BarPanel("PEAK RSS OF THE PROXY PROCESS (MIB)", ["peak RSS"], series, [[.. series.Select(t => memory.TryGetValue(t, out var m) && m.Peak > 0 ? m.Peak / 1048576.0 : double.NaN)]], v => v.ToString("0", CultureInfo.InvariantCulture));
        Infrastructure.BarChart.Render(path, "GATEWAY OVERHEAD VS DIRECT AND PLAIN YARP (ZERO-WORK UPSTREAM)", series, [throughput, p50, p99, rss], 2,
            $"Loopback, >= {options.Requests} requests and {options.MeasureSeconds:0.#} s per run after >= {options.Warmup} requests and {options.WarmupSeconds:0.#} s of warm-up, bodies {string.Join("/", options.SizesKb)} KB built from recorded Claude Code requests; proxies and upstream in their own processes; gateway log level {options.GatewayLogLevel}{(options.Quick ? "; QUICK PRESET" : string.Empty)}.");
    }
}
