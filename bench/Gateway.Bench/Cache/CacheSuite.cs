using System.Diagnostics;
using System.Globalization;
using LlamaGateway.Bench.Infrastructure;
using Spectre.Console;

namespace LlamaGateway.Bench.Cache;

internal sealed record CacheOptions
{
    public required WorkloadOptions Workload { get; init; }
    public int Slots { get; init; } = 4;
    public int Instances { get; init; } = 1;
    public int CacheRamMiB { get; init; } = 170;

    /// <summary>llama-server's logical batch (-b) for every variant; null keeps llama-server's default (2048).</summary>
    public int? BatchSize { get; init; }

    /// <summary>Gateway:Routing:PrefillChunkSeconds of the variant as shipped (gateway-slot-save); the shipped value unless given.</summary>
    public double PrefillChunkSeconds { get; init; } = 0.5;
    public required string Model { get; init; }
    public required string ModelName { get; init; }
    public required string LlamaServer { get; init; }
    public required IReadOnlyList<string> Variants { get; init; }
    public required string OutputDirectory { get; init; }
    public required string CommandLine { get; init; }
    public bool Quick { get; init; }

    /// <summary>
    /// Users one at a time (<c>--solo</c>): each user's whole script runs alone and the next starts when it ends, so
    /// no request shares llama-server with another user's. What a turn costs with nobody else on the machine: the floor
    /// under the concurrent replay's times, not a configuration the targets are stated for.
    /// </summary>
    public bool Solo { get; init; }

    /// <summary>Whether this is the configuration the targets are stated for.</summary>
    public bool IsTargetConfiguration => !Solo && Workload.Users == 6 && Slots == 4 && Instances == 1 && CacheRamMiB == 170
        && Workload.Conversations >= 3 && Workload.SideEvery is > 0 and <= 4 && ModelName == "bench";
}

/// <summary>
/// <c>cache</c>: the same replay of simulated Claude Code users against (a) llama-server's own /v1/messages, (b) a
/// single-threaded normalizing proxy with -np 1 and with the gateway's slot count, and (c) the gateway; each on a
/// freshly started llama-server, measured from the server's own counters and log and at the client.
/// </summary>
internal static class CacheSuite
{
    public static readonly string[] AllVariants = ["direct", "naive-np1", "naive", "gateway", "gateway-slot-save", "gateway-slot-save-nochunk", "gateway-slot-save-pause", "gateway-slot-save-idle"];

    /// <summary>Variants run only when named in --variants: gateway-slot-save-peruser is the shipped gateway with Gateway:Isolation PerUser.</summary>
    public static readonly string[] OptInVariants = ["gateway-slot-save-peruser"];

    public static CacheOptions Parse(Cli cli, string repositoryRoot, string commandLine)
    {
        var quick = cli.Flag("quick");
        var workload = new WorkloadOptions
        {
            Users = cli.Int("users", quick ? 3 : 6),
            Conversations = cli.Int("conversations", quick ? 2 : 3),
            Turns = cli.Int("turns", quick ? 4 : 6),
            SideEvery = cli.Int("side-every", 3),
            SubagentRequests = cli.Int("subagent-requests", 2),
            CountTokensBurst = cli.Int("count-tokens", quick ? 5 : 20),
            ThinkScale = cli.Double("think", quick ? 0.3 : 1.0),
            Seed = cli.Int("seed", 42),
        };
        var model = cli.String("model", quick ? "fast" : "bench")!;
        var variants = cli.Strings("variants", AllVariants);
        foreach (var variant in variants)
        {
            if (!AllVariants.Contains(variant) && !OptInVariants.Contains(variant))
            {
                throw new ArgumentException($"--variants: unknown variant '{variant}' (known: {string.Join(", ", AllVariants.Concat(OptInVariants))})");
            }
        }

        return new CacheOptions
        {
            Workload = workload,
            Slots = cli.Int("slots", quick ? 3 : 4),
            Instances = cli.Int("instances", 1),
            // The fast model's KV cache is 8x smaller per token (512 B vs 4 KiB): 21 MiB holds the same ~3.5 prompts
            // of 12K tokens as 170 MiB does with the bench model (less pressure on 3 users than on the default 6).
            CacheRamMiB = cli.Int("cache-ram", quick ? 21 : 170),
            // 512 rather than llama-server's 2048: a short prompt launched beside another slot's prefill then waits for
            // one 512-token batch, not four (measured: follow-up TTFT p50 3.47 s against 5.56 s,
            // bench/results/archive/2026-12-01-batch-512/).
            BatchSize = cli.Int("batch", 512) is > 0 and var batch ? batch : null,
            PrefillChunkSeconds = cli.Double("prefill-chunk-seconds", 0.5),
            ModelName = model,
            Model = BenchEnvironment.ResolveModel(model, repositoryRoot),
            LlamaServer = cli.String("llama-server", BenchEnvironment.DefaultLlamaServer)!,
            Variants = variants,
            OutputDirectory = cli.String("out", Path.Combine(repositoryRoot, "bench", "results", quick ? "quick" : string.Empty))!,
            CommandLine = commandLine,
            Quick = quick,
            Solo = cli.Flag("solo"),
        };
    }

    public static async Task<int> RunAsync(CacheOptions options, MachineInfo machine, CancellationToken cancellationToken)
    {
        if (!File.Exists(options.LlamaServer))
        {
            AnsiConsole.MarkupLine($"[red]llama-server not found at {Markup.Escape(options.LlamaServer)}[/]: run scripts/install-llama-server.sh (or pass --llama-server PATH).");
            return 2;
        }

        var fixture = ClaudeCodeFixture.Load();
        var scripts = WorkloadBuilder.Build(options.Workload, fixture);
        var total = scripts.Sum(s => s.Requests.Count());
        AnsiConsole.MarkupLine($"[bold]cache[/]: {options.Workload.Users} users x {options.Workload.Conversations} conversations x {options.Workload.Turns} turns, {options.Slots} slots x {options.Instances} instance(s), --cache-ram {options.CacheRamMiB} MiB, model {Markup.Escape(Path.GetFileName(options.Model))}");
        AnsiConsole.MarkupLine($"workload: {Markup.Escape(WorkloadSummary.Describe(scripts))}");

        var results = new List<VariantResult>();
        foreach (var variant in options.Variants)
        {
            var result = await RunVariantAsync(variant, options, scripts, total, cancellationToken);
            results.Add(result);
            AnsiConsole.MarkupLine($"  {Markup.Escape(result.Label)}: re-computed {Fmt.N0(result.RecomputedMetrics)} tokens, hit ratio {Fmt.Pct(result.HitRatio)}, follow-up TTFT p50 {Fmt.Seconds(Stats.P50(result.Ttft(RequestKind.MainFollowUp)))}, wall {Fmt.Seconds(result.WallSeconds)}, {result.Failed} failed");
        }

        Directory.CreateDirectory(options.OutputDirectory);
        var targets = EvaluateTargets(results, options);
        var report = CacheReport.Write(options, machine, scripts, results, targets);
        var markdownPath = Path.Combine(options.OutputDirectory, "cache.md");
        await File.WriteAllTextAsync(markdownPath, report, cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(options.OutputDirectory, "cache-requests.csv"), CacheCsv.Write(results), cancellationToken);
        var pngPath = Path.Combine(options.OutputDirectory, "cache.png");
        CacheReport.Chart(pngPath, options, results);
        PrintSummary(results, targets);
        AnsiConsole.MarkupLine($"Wrote [link]{Markup.Escape(markdownPath)}[/] and [link]{Markup.Escape(pngPath)}[/]");
        return 0;
    }

    private static async Task<VariantResult> RunVariantAsync(string variant, CacheOptions options, IReadOnlyList<UserScript> scripts, int total, CancellationToken cancellationToken)
    {
        var slots = variant == "naive-np1" ? 1 : options.Slots;
        var label = Label(variant, slots);
        var clock = Stopwatch.StartNew();
        var servers = new List<LlamaServer>();
        NaiveProxy[] proxies = [];
        InProcessGateway? gateway = null;
        try
        {
            await AnsiConsole.Status().StartAsync($"{label}: starting {options.Instances} llama-server(s) (-np {slots})...", async _ =>
            {
                for (var i = 0; i < options.Instances; i++)
                {
                    var savesSlots = variant.StartsWith("gateway-slot-save", StringComparison.Ordinal);
                    var slotSavePath = savesSlots ? Directory.CreateTempSubdirectory("llama-gateway-slot-save-").FullName : null;
                    // As the README starts llama-server for the gateway's SlotSave: without copying every idle slot
                    // into its RAM prompt cache at each task launch; -idle keeps llama-server's default.
                    string[] extra = savesSlots && variant != "gateway-slot-save-idle" ? ["--no-cache-idle-slots"] : [];
                    servers.Add(await LlamaServer.StartAsync(options.LlamaServer, options.Model, i, slots, options.CacheRamMiB, clock, cancellationToken, slotSavePath, options.BatchSize, extra));
                }
            });

            Func<int, string> urlFor;
            switch (variant)
            {
                case "direct":
                    urlFor = u => servers[u % servers.Count].BaseUrl;
                    break;
                case "naive":
                case "naive-np1":
                    proxies = await Task.WhenAll(servers.Select(s => NaiveProxy.StartAsync(s.BaseUrl)));
                    urlFor = u => proxies[u % proxies.Length].BaseUrl;
                    break;
                case "gateway-slot-save":
                case "gateway-slot-save-idle":
                case "gateway-slot-save-peruser":
                case "gateway-slot-save-nochunk":
                case "gateway-slot-save-pause":
                    // llama-server saves a slot's state to disk before the gateway hands the slot to another
                    // conversation and restores it when that conversation returns (Gateway:Upstreams:N:SlotSave).
                    var slotSave = Enumerable.Range(0, servers.Count).ToDictionary(i => $"Gateway:Upstreams:{i}:SlotSave:Enabled", _ => (string?)"true");
                    // As shipped (appsettings.json): long prompts prefilled in chunks that give way to shorter
                    // prompts (PrefillChunking); -nochunk sends every prompt in one piece (chunked prefill off);
                    // -pause pauses long prefills for short prompts instead (off by default).
                    slotSave["Gateway:Routing:PrefillChunkSeconds"] = variant is "gateway-slot-save" or "gateway-slot-save-idle" or "gateway-slot-save-peruser" ? options.PrefillChunkSeconds.ToString(CultureInfo.InvariantCulture) : "0";
                    if (variant == "gateway-slot-save-peruser")
                    {
                        // Each simulated user sends its own device id, which is the identity on an open gateway.
                        slotSave["Gateway:Isolation"] = "PerUser";
                    }

                    if (variant == "gateway-slot-save-pause")
                    {
                        slotSave["Gateway:Routing:PreemptLongPrefills"] = "true";
                    }

                    gateway = await InProcessGateway.StartAsync([.. servers.Select(s => s.BaseUrl)], slots, slotSave);
                    urlFor = _ => gateway.BaseUrl;
                    break;
                default:
                    gateway = await InProcessGateway.StartAsync([.. servers.Select(s => s.BaseUrl)], slots);
                    urlFor = _ => gateway.BaseUrl;
                    break;
            }

            var before = await SumMetricsAsync(servers, cancellationToken);
            List<RequestResult> results = [];
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask(label, maxValue: total);
                    var replayer = new Replayer(clock, urlFor, _ => task.Increment(1), options.Solo);
                    results = await replayer.RunAsync(scripts, cancellationToken);
                });
            var after = await SumMetricsAsync(servers, cancellationToken);
            var delta = after.ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key), StringComparer.Ordinal);

            var tasks = servers.SelectMany(s => s.Tasks()).ToList();
            var selection = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var server in servers)
            {
                foreach (var (reason, count) in server.SelectionCounts())
                {
                    selection[reason] = selection.GetValueOrDefault(reason) + count;
                }
            }

            var result = new VariantResult
            {
                Name = variant,
                Label = label,
                SlotsPerInstance = slots,
                Results = results,
                MetricsDelta = delta,
                Tasks = tasks,
                SlotSelection = selection,
                CacheRamEvictions = servers.Sum(s => s.CacheRamEvictions),
                GatewayReasons = gateway is null ? [] : gateway.Logs.Completed
                    .GroupBy(f => $"{f.GetValueOrDefault("Reason")}")
                    .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
                GatewayFailures = gateway is null ? [] : [.. gateway.Logs.Failures.Take(20)],
            };
            if (gateway is not null)
            {
                foreach (var r in results)
                {
                    r.Decision = gateway.Decisions.GetValueOrDefault(r.Request.Id);
                }
            }

            CacheAnalysis.MatchTasks(result, servers);
            return result;
        }
        finally
        {
            if (gateway is not null)
            {
                await gateway.DisposeAsync();
            }

            foreach (var proxy in proxies)
            {
                await proxy.DisposeAsync();
            }

            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    public static string Label(string variant, int slots) => variant switch
    {
        "direct" => $"(a) direct /v1/messages, -np {slots}",
        "naive-np1" => "(b1) 1-thread normalizing proxy, -np 1",
        "naive" => $"(b2) 1-thread normalizing proxy, -np {slots}",
        "gateway-slot-save" => $"(c2) gateway as shipped: SlotSave + chunked prefill, -np {slots}",
        "gateway-slot-save-pause" => $"(c3) gateway + SlotSave + pausing long prefills, -np {slots}",
        "gateway-slot-save-nochunk" => $"(c4) gateway + SlotSave, prompts in one piece, -np {slots}",
        "gateway-slot-save-idle" => $"(c5) gateway as shipped, but llama-server caching idle slots (its default), -np {slots}",
        "gateway-slot-save-peruser" => $"(c6) gateway as shipped, Gateway:Isolation PerUser, -np {slots}",
        _ => $"(c) gateway, -np {slots}",
    };

    public static string ShortLabel(string variant, int slots) => variant switch
    {
        "direct" => $"(a) direct -np {slots}",
        "naive-np1" => "(b1) proxy -np 1",
        "naive" => $"(b2) proxy -np {slots}",
        "gateway-slot-save" => $"(c2) gateway+save+chunks -np {slots}",
        "gateway-slot-save-pause" => $"(c3) gateway+save+pause -np {slots}",
        "gateway-slot-save-nochunk" => $"(c4) gateway+save -np {slots}",
        "gateway-slot-save-idle" => $"(c5) gateway+save+chunks, idle-slot cache -np {slots}",
        "gateway-slot-save-peruser" => $"(c6) gateway+save+chunks, PerUser -np {slots}",
        _ => $"(c) gateway -np {slots}",
    };

    private static async Task<Dictionary<string, double>> SumMetricsAsync(List<LlamaServer> servers, CancellationToken cancellationToken)
    {
        var sum = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var server in servers)
        {
            foreach (var (key, value) in await server.MetricsAsync(cancellationToken))
            {
                sum[key] = sum.GetValueOrDefault(key) + value;
            }
        }

        return sum;
    }

    internal sealed record Target(string Name, bool? Pass, string Measured, string Why);

    private static List<Target> EvaluateTargets(List<VariantResult> results, CacheOptions options)
    {
        var targets = new List<Target>();
        var gateways = results.Where(r => r.Name.StartsWith("gateway", StringComparison.Ordinal)).ToList();
        if (gateways.Count == 0)
        {
            targets.Add(new Target("all cache targets", null, "gateway variant not run", "run with --variants including gateway"));
            return targets;
        }

        foreach (var gateway in gateways)
        {
            targets.AddRange(EvaluateTargets(gateway, results, gateways.Count > 1));
        }

        if (!options.IsTargetConfiguration)
        {
            targets = [.. targets.Select(t => t with { Why = t.Why + " (non-default parameters: indicative only)" })];
        }

        return targets;
    }

    private static List<Target> EvaluateTargets(VariantResult gateway, List<VariantResult> results, bool nameTheGateway)
    {
        var targets = new List<Target>();
        var direct = results.FirstOrDefault(r => r.Name == "direct");
        var naives = results.Where(r => r.Name.StartsWith("naive", StringComparison.Ordinal)).ToList();
        var name = nameTheGateway ? gateway.Label[..gateway.Label.IndexOf(' ')] + " gateway" : "gateway";

        var gatewayBroken = gateway.Failed > gateway.Results.Count / 10;
        foreach (var other in naives.Prepend(direct).OfType<VariantResult>())
        {
            var ratio = gateway.RecomputedMetrics / other.RecomputedMetrics;
            targets.Add(new Target($"{name} re-computes <= 0.5x the prompt tokens of {other.Label}", !gatewayBroken && ratio <= 0.5,
                $"{Fmt.N0(gateway.RecomputedMetrics)} vs {Fmt.N0(other.RecomputedMetrics)} = {Fmt.F2(ratio)}x",
                "llama-server /metrics prompt_tokens_total delta over the whole replay (all requests)"));
        }

        if (direct is not null)
        {
            var g = Stats.P50(gateway.Ttft(RequestKind.MainFollowUp));
            var d = Stats.P50(direct.Ttft(RequestKind.MainFollowUp));
            targets.Add(new Target($"{name} follow-up TTFT p50 <= 0.2x of (a)", !gatewayBroken && g <= 0.2 * d,
                $"{Fmt.Seconds(g)} vs {Fmt.Seconds(d)} = {Fmt.F2(g / d)}x", "client-side time to first model event, main-conversation turns 2+"));
        }

        foreach (var naive in naives)
        {
            var g = gateway.SecondsBehindOthers;
            var n = naive.SecondsBehindOthers;
            var pass = !gatewayBroken && gateway.Matched > 0 && naive.Matched > 0 && g <= 0.25 * n && gateway.MaxConcurrentTasks > 1;
            targets.Add(new Target($"no user waits behind another's stream the way {naive.Label} forces ({name})", gateway.Matched == 0 ? null : pass,
                $"main turns queued behind other users' requests: {Fmt.Seconds(g)} in total vs {Fmt.Seconds(n)} ({Fmt.F2(g / n)}x), longest {Fmt.Seconds(gateway.MaxBehindOthers)} vs {Fmt.Seconds(naive.MaxBehindOthers)}; turns over 1 s: {gateway.BlockedByOthers.Count} vs {naive.BlockedByOthers.Count}; max concurrent upstream tasks {gateway.MaxConcurrentTasks} vs {naive.MaxConcurrentTasks}",
                "pass when the gateway serves users concurrently and its main turns spend <= 0.25x the proxy's time queued while another user's request runs (llama-server's log: send -> launch, overlapped with other users' launch -> release)"));
        }

        return targets;
    }

    private static void PrintSummary(List<VariantResult> results, List<Target> targets)
    {
        var table = new Table().Title("cache reuse").AddColumns("variant", "re-computed", "hit ratio", "TTFT first p50", "TTFT follow-up p50", "queue wait p95", "wall", "failed");
        foreach (var r in results)
        {
            table.AddRow(Markup.Escape(r.Label), Fmt.N0(r.RecomputedMetrics), Fmt.Pct(r.HitRatio), Fmt.Seconds(Stats.P50(r.Ttft(RequestKind.MainFirst))),
                Fmt.Seconds(Stats.P50(r.Ttft(RequestKind.MainFollowUp))), Fmt.Seconds(Stats.P95(r.QueueWaits(RequestKind.MainFirst, RequestKind.MainFollowUp))),
                Fmt.Seconds(r.WallSeconds), r.Failed.ToString(CultureInfo.InvariantCulture));
        }

        AnsiConsole.Write(table);
        PrintTargets(targets.Select(t => (t.Name, t.Pass, t.Measured)));
    }

    public static void PrintTargets(IEnumerable<(string Name, bool? Pass, string Measured)> targets)
    {
        var table = new Table().Title("targets").AddColumns("target", "result", "measured");
        foreach (var (name, pass, measured) in targets)
        {
            table.AddRow(Markup.Escape(name), pass is null ? "[yellow]n/a[/]" : pass.Value ? "[green]PASS[/]" : "[red]FAIL[/]", Markup.Escape(measured));
        }

        AnsiConsole.Write(table);
    }
}
