using System.Globalization;
using LlamaGateway.Bench.Infrastructure;

namespace LlamaGateway.Bench.Cache;

internal static class CacheReport
{
    private static readonly RequestKind[] Main = [RequestKind.MainFirst, RequestKind.MainFollowUp];
    private static readonly RequestKind[] Side = [RequestKind.Quota, RequestKind.Title, RequestKind.Topic];

    public static string Write(CacheOptions options, MachineInfo machine, IReadOnlyList<UserScript> scripts, List<VariantResult> results, List<CacheSuite.Target> targets)
    {
        var md = new Markdown();
        md.Heading(1, "Cache reuse on a real llama-server" + (options.Quick ? " (quick preset)" : string.Empty) + (options.Solo ? ", users one at a time" : string.Empty));
        md.Paragraph("The same replay of simulated Claude Code users against each variant, each on a freshly started llama-server "
            + "(cold KV cache, empty --cache-ram). Prompt tokens are counted by llama-server itself (`/metrics` deltas); the response "
            + "usage (`input_tokens` = re-computed, `cache_read_input_tokens` = reused) and llama-server's own log are cross-checks.");
        md.Heading(2, "Reproduce");
        md.Code(options.CommandLine, "sh");
        md.Heading(2, "Machine");
        md.Bullets(machine.Lines($"Load average when the suite finished: {MachineInfo.LoadAverageNow()} (other work on the machine slows prefill and inflates every TTFT alike)"));
        md.Heading(2, "Parameters and workload");
        var w = options.Workload;
        md.Bullets(
        [
            $"{w.Users} users, each in their own project (memory path and cwd differ from ~2,400 characters into the system prompt), {w.Conversations} conversations each (a new session each: new cc_version suffix, new git status snapshot)",
            $"{w.Turns} main requests per conversation growing with tool_use/tool_result turns (Read, Bash, Edit) and a new user prompt every 4th turn; a subagent (Explore-style: own system prompt, 4 tools, own billing line) of {w.SubagentRequests} requests mid-conversation",
            $"Billing line as real clients vary it: per-conversation cc_version suffix for everyone; per-request cch for users 2, 3, 5, 6; cc_workload for user 6; entrypoints cli and sdk-cli",
            $"Side requests: quota probe (max_tokens 1, \"quota\") and a burst of {w.CountTokensBurst} count_tokens at every session start, a title request (haiku model, short system, no tools) with each first turn, a topic request (haiku) with every {w.SideEvery}rd main turn",
            $"Think time x{w.ThinkScale.ToString(CultureInfo.InvariantCulture)}: 0.3-1.5 s after tool results, 4-12 s before a new prompt, 8-15 s between conversations, users start within 15 s; seed {w.Seed}",
            options.Solo
                ? "**Users one at a time (`--solo`)**: each user's whole script runs alone and the next user starts when it ends, so no request shares llama-server with another user's (only with that user's own side requests): the floor under the concurrent replay's times. Targets are not evaluated"
                : "Users concurrently, as a team shares the server",
            $"llama-server: {Path.GetFileName(options.Model)}, `--jinja -np S -c S*32768 --metrics -l 151645+10 --cache-ram {options.CacheRamMiB}{(options.BatchSize is { } b ? $" -b {b}" : string.Empty)}`, S = {options.Slots} ({options.Instances} instance(s)); (b1) uses -np 1; the gateway variants with SlotSave add --no-cache-idle-slots, as the README recommends, but for (c5)",
            "Gateway: defaults (openai dialect, slot count configured, a side-lane slot only on instances with 8+ slots; (c2) adds SlotSave with llama-server's --slot-save-path) except Timeouts:FirstByteSeconds and Routing:MaxQueueSeconds raised to 1800 s for slow cold prefill",
            WorkloadSummary.Describe(scripts),
        ]);

        md.Heading(2, "Targets");
        md.Table(["target", "result", "measured", "how"], targets.Select(t => (IReadOnlyList<string>)
            [t.Name, t.Pass is null ? "n/a" : Fmt.PassFail(t.Pass.Value), t.Measured, t.Why]));

        md.Heading(2, "Prompt tokens");
        md.Table(["variant", "prompt tokens", "re-computed", "reused (cached)", "cache hit ratio", "re-computed: main first", "main follow-up", "subagent", "side"],
            results.Select(r => (IReadOnlyList<string>)
            [
                r.Label, Fmt.N0(r.RecomputedMetrics + r.CachedMetrics), Fmt.N0(r.RecomputedMetrics), Fmt.N0(r.CachedMetrics), Fmt.Pct(r.HitRatio),
                Fmt.N0(r.RecomputedBy(RequestKind.MainFirst)), Fmt.N0(r.RecomputedBy(RequestKind.MainFollowUp)), Fmt.N0(r.RecomputedBy(RequestKind.Subagent)), Fmt.N0(r.RecomputedBy(Side)),
            ]));
        md.Paragraph("Totals from llama-server `/metrics` (`prompt_tokens_total` = re-computed, `prompt_tokens_cached_total` = reused). The per-kind split comes from each response's usage (or, where a response carried none, from the matched llama-server task).");

        md.Heading(2, "Latency");
        md.Table(["variant", "TTFT first turn p50", "p95", "TTFT follow-up p50", "p95", "subagent p50", "side p50", "wall time", "requests (failed)"],
            results.Select(r => (IReadOnlyList<string>)
            [
                r.Label,
                Fmt.Seconds(Stats.P50(r.Ttft(RequestKind.MainFirst))), Fmt.Seconds(Stats.P95(r.Ttft(RequestKind.MainFirst))),
                Fmt.Seconds(Stats.P50(r.Ttft(RequestKind.MainFollowUp))), Fmt.Seconds(Stats.P95(r.Ttft(RequestKind.MainFollowUp))),
                Fmt.Seconds(Stats.P50(r.Ttft(RequestKind.Subagent))), Fmt.Seconds(Stats.P50(r.Ttft(Side))),
                Fmt.Seconds(r.WallSeconds), $"{r.Results.Count} ({r.Failed})",
            ]));
        md.Paragraph("TTFT is measured at the client: from sending the request to the first event that carries model output (a content block, or the final message_delta; message_start and pings do not count).");

        var gateways = results.Where(r => r.Model.Any(m => m.Decision is not null)).ToList();
        if (gateways.Count > 0)
        {
            md.Heading(2, "Where a follow-up turn's time to first token goes (gateway variants)");
            md.Table(["variant", "follow-up TTFT p50", "gateway slot queue p50", "mean", "slot save/restore p50", "mean", "then until llama-server launched it p50", "mean", "launch to first token p50", "mean"],
                gateways.Select(r =>
                {
                    var followUps = r.Model.Where(m => m.Request.Kind == RequestKind.MainFollowUp && m.Decision is not null && m.Task is not null && !double.IsNaN(m.Ttft)).ToList();
                    List<double> queue = [.. followUps.Select(m => m.Decision!.QueueSeconds)];
                    List<double> actions = [.. followUps.Select(m => m.Decision!.SlotActionSeconds)];
                    List<double> server = [.. followUps.Select(m => Math.Max(0, VariantResult.QueueWait(m) - m.Decision!.QueueSeconds - m.Decision.SlotActionSeconds))];
                    List<double> launched = [.. followUps.Select(m => Math.Max(0, m.FirstToken - m.Task!.Launch))];
                    return (IReadOnlyList<string>)
                    [
                        r.Label, Fmt.Seconds(Stats.P50(r.Ttft(RequestKind.MainFollowUp))),
                        Fmt.Seconds(Stats.P50(queue)), Fmt.Seconds(Stats.MeanOrNaN(queue)), Fmt.Seconds(Stats.P50(actions)), Fmt.Seconds(Stats.MeanOrNaN(actions)),
                        Fmt.Seconds(Stats.P50(server)), Fmt.Seconds(Stats.MeanOrNaN(server)), Fmt.Seconds(Stats.P50(launched)), Fmt.Seconds(Stats.MeanOrNaN(launched)),
                    ];
                }));
            md.Paragraph("Per main follow-up turn, measured inside the gateway: time in its slot queue, then saving the evicted slot and restoring the conversation's saved state (SlotSave), "
                + "then the rest of the wait until llama-server launched the task (connection, llama-server's own task queue, which slot actions also pass through), "
                + "then launch to the first model event at the client (prefill of what the slot did not hold, shared with other slots' prompts in the same batches, and the first token).");

            var pauseLines = gateways.Select(r =>
            {
                var paused = r.Model.Where(m => m.Decision is { Pauses: > 0 }).ToList();
                var byKind = string.Join(", ", paused.GroupBy(m => m.Request.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"));
                return paused.Count == 0
                    ? $"{r.Label}: no request was paused."
                    : string.Create(CultureInfo.InvariantCulture, $"{r.Label}: {paused.Count} requests paused ({byKind}), {paused.Sum(m => m.Decision!.Pauses)} pauses, {paused.Sum(m => m.Decision!.PausedSeconds):0.0} s paused in all.");
            });
            md.Paragraph("Long prefills paused for shorter prompts placed above them (Gateway:Routing:PreemptLongPrefills; cancelled upstream, then sent again): "
                + string.Join(" ", pauseLines) + " llama-server's prompt and cached counters count the part of a paused prompt processed before its pause again as cached when it is sent again, "
                + "which raises that variant's prompt tokens and hit ratio; its re-computed tokens count each computed token once.");

            var chunkLines = gateways.Select(r =>
            {
                var chunked = r.Model.Where(m => m.Decision is { Chunks: > 0 }).ToList();
                var byKind = string.Join(", ", chunked.GroupBy(m => m.Request.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"));
                return chunked.Count == 0
                    ? $"{r.Label}: no request was prefilled in chunks."
                    : string.Create(CultureInfo.InvariantCulture, $"{r.Label}: {chunked.Count} requests prefilled in chunks ({byKind}), {chunked.Sum(m => m.Decision!.Chunks)} chunks, {chunked.Sum(m => (long)m.Decision!.ChunkedTokens):N0} tokens computed in them, {chunked.Sum(m => m.Decision!.YieldedSeconds):0.0} s given way to shorter prompts in all.");
            });
            md.Paragraph("Long prompts prefilled in chunks that give way to shorter prompts between them (Gateway:Routing:PrefillChunkSeconds): " + string.Join(" ", chunkLines)
                + " A chunked request's response counts its chunks' tokens as input, not cache reads; its last llama-server task, matched to it above, computed only what the chunks left."
                + " llama-server's prompt and cached counters count each chunk's prefix again as cached (every chunk re-reads the ones before it), which raises that variant's prompt tokens and hit ratio; its re-computed tokens count each computed token once.");
        }

        md.Heading(2, "Waiting behind other users");
        md.Table(["variant", "main-turn queue wait p50", "p95", "max", "queued behind other users: total", "longest", "turns > 1 s", "max concurrent upstream tasks", "requests matched to llama-server tasks"],
            results.Select(r =>
            {
                var waits = r.QueueWaits(Main);
                return (IReadOnlyList<string>)
                [
                    r.Label, Fmt.Seconds(Stats.P50(waits)), Fmt.Seconds(Stats.P95(waits)), Fmt.Seconds(Stats.MaxOrNaN(waits)),
                    Fmt.Seconds(r.SecondsBehindOthers), Fmt.Seconds(r.MaxBehindOthers),
                    r.BlockedByOthers.Count.ToString(CultureInfo.InvariantCulture), r.MaxConcurrentTasks.ToString(CultureInfo.InvariantCulture),
                    $"{r.Matched} of {r.Model.Count(m => m.Ok)}",
                ];
            }));
        md.Paragraph("Queue wait = from the client sending a request to llama-server launching the task that served it (the `launch_slot_` line of its log, mapped onto the bench's clock). "
            + "It covers every place a request can wait: the single-threaded proxy's lock, the gateway's slot queue, llama-server's own deferral when all slots are busy. "
            + "Queued behind other users = the part of that wait during which a request of another user was being processed (its launch to release); the total is over all main turns. "
            + "Max concurrent upstream tasks = most tasks llama-server was processing at once. Requests are matched to tasks by re-computed and total token counts and time. "
            + "Not counted here: once launched, llama-server fills each batch slot by slot (n_batch " + (options.BatchSize ?? 2048).ToString(CultureInfo.InvariantCulture) + "), so a slot's small prompt can still wait inside the server while a lower-numbered slot prefills a large one; that shows in TTFT.");

        md.Heading(2, "Cross-checks and slot behaviour");
        md.Table(["variant", "re-computed: /metrics", "usage input_tokens", "llama-server log", "reused: /metrics", "usage cache_read", "responses with usage", "llama-server slot selection", "cache-ram evictions", "gateway routing reasons"],
            results.Select(r => (IReadOnlyList<string>)
            [
                r.Label, Fmt.N0(r.RecomputedMetrics), Fmt.N0(r.RecomputedUsage), Fmt.N0(r.RecomputedServerLog), Fmt.N0(r.CachedMetrics), Fmt.N0(r.CachedUsage),
                $"{r.UsageReported} of {r.Model.Count(m => m.Ok)}",
                string.Join(", ", r.SlotSelection.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value}")),
                r.CacheRamEvictions.ToString(CultureInfo.InvariantCulture),
                r.GatewayReasons.Count == 0 ? "-" : string.Join(", ", r.GatewayReasons.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value}")),
            ]));

        foreach (var gateway in results.Where(r => r.Name.StartsWith("gateway", StringComparison.Ordinal) && r.Results.Any(x => x.Decision is not null)))
        {
            md.Heading(2, $"Gateway decisions by request kind: {gateway.Label}");
            var kinds = gateway.Results.Where(r => r.Decision is not null).GroupBy(r => r.Request.Kind).OrderBy(g => g.Key);
            md.Table(["request kind", "requests", "routed as", "reasons", "re-computed tokens", "of prompt tokens"], kinds.Select(g => (IReadOnlyList<string>)
            [
                g.Key.ToString(),
                g.Count().ToString(CultureInfo.InvariantCulture),
                string.Join(", ", g.GroupBy(r => r.Decision!.Kind).Select(k => $"{k.Key} {k.Count()}")),
                string.Join(", ", g.GroupBy(r => r.Decision!.Reason).OrderByDescending(k => k.Count()).Select(k => $"{k.Key} {k.Count()}")),
                Fmt.N0(g.Where(r => r.InputTokens >= 0).Sum(r => (double)r.InputTokens)),
                Fmt.Pct(g.Where(r => r.PromptTokens > 0).Sum(r => (double)r.InputTokens) / Math.Max(1, g.Where(r => r.PromptTokens > 0).Sum(r => (double)r.PromptTokens))),
            ]));
            md.Paragraph("From the gateway's own per-request context (read in-process after each request): how it classified the request and why it chose the slot (own-slot, prefix-match, empty-slot, evict-least-valuable, repinned, side-lane, slotless).");
        }

        var failures = results.SelectMany(r => r.Results.Where(x => !x.Ok).Select(x => $"{r.Label}: {x.Request.Kind} of user {x.Request.User + 1}: {x.Error ?? "HTTP " + x.Status}")).Take(15).ToList();
        var gatewayFailures = results.SelectMany(r => r.GatewayFailures.Select(f => $"{r.Label} (gateway log): {f}")).Take(10).ToList();
        if (failures.Count + gatewayFailures.Count > 0)
        {
            md.Heading(2, "Failures (first few)");
            md.Bullets(failures.Concat(gatewayFailures));
        }

        md.Paragraph("Chart: `cache.png` beside this file; every request of every variant: `cache-requests.csv`.");
        return md.ToString();
    }

    public static void Chart(string path, CacheOptions options, List<VariantResult> results)
    {
        var series = results.Select(r => CacheSuite.ShortLabel(r.Name, r.SlotsPerInstance)).ToList();
        double[][] Values(IReadOnlyList<Func<VariantResult, double>> metrics) => [.. metrics.Select(m => results.Select(m).ToArray())];

        var tokens = new BarPanel("RE-COMPUTED PROMPT TOKENS (THOUSANDS)", ["main first", "main follow-up", "subagent", "side", "total"], series,
            Values(
            [
                r => r.RecomputedBy(RequestKind.MainFirst) / 1000.0,
                r => r.RecomputedBy(RequestKind.MainFollowUp) / 1000.0,
                r => r.RecomputedBy(RequestKind.Subagent) / 1000.0,
                r => r.RecomputedBy(RequestKind.Quota, RequestKind.Title, RequestKind.Topic) / 1000.0,
                r => r.RecomputedMetrics / 1000.0,
            ]), v => v.ToString(v < 10 ? "0.0" : "0", CultureInfo.InvariantCulture));
        var ttft = new BarPanel("TIME TO FIRST TOKEN (S)", ["first p50", "first p95", "follow-up p50", "follow-up p95"], series,
            Values(
            [
                r => Stats.P50(r.Ttft(RequestKind.MainFirst)),
                r => Stats.P95(r.Ttft(RequestKind.MainFirst)),
                r => Stats.P50(r.Ttft(RequestKind.MainFollowUp)),
                r => Stats.P95(r.Ttft(RequestKind.MainFollowUp)),
            ]), v => v.ToString(v < 10 ? "0.0" : "0", CultureInfo.InvariantCulture)) { LogScale = true };
        var waits = new BarPanel("MAIN TURNS QUEUED BEHIND OTHER USERS (S)", ["total", "longest", "queue wait p95"], series,
            Values(
            [
                r => r.SecondsBehindOthers,
                r => r.MaxBehindOthers,
                r => Stats.P95(r.QueueWaits(Main)),
            ]), v => v.ToString(v < 10 ? "0.0" : "0", CultureInfo.InvariantCulture)) { LogScale = true };
        var ratio = new BarPanel("CACHE HIT RATIO (%) AND WALL TIME (MIN)", ["hit ratio %", "wall min"], series,
            Values(
            [
                r => r.HitRatio * 100,
                r => r.WallSeconds / 60,
            ]), v => v.ToString(v < 10 ? "0.0" : "0", CultureInfo.InvariantCulture));
        var w = options.Workload;
        BarChart.Render(path, "CACHE REUSE: SIMULATED CLAUDE CODE USERS ON LLAMA-SERVER", series, [tokens, ttft, waits, ratio], 2,
            string.Create(CultureInfo.InvariantCulture, $"{w.Users} users x {w.Conversations} conversations x {w.Turns} turns, {options.Slots} slots x {options.Instances} instance, cache-ram {options.CacheRamMiB} MiB, model {Path.GetFileName(options.Model)}, seed {w.Seed}{(options.Quick ? ", QUICK PRESET" : string.Empty)}. Tokens from llama-server /metrics and response usage; waits from llama-server's log."));
    }
}
