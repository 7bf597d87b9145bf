using LlamaGateway.Bench.Cache;
using LlamaGateway.Bench.Hosting;
using LlamaGateway.Bench.Infrastructure;
using LlamaGateway.Bench.Micro;
using LlamaGateway.Bench.Overhead;
using Spectre.Console;

// llama-gateway benchmarks. Usually run through scripts/bench.sh [cache|overhead|micro|all] [options].
if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    PrintUsage();
    return args.Length == 0 ? 2 : 0;
}

var command = args[0];
var cli = new Cli(args.Skip(1));
var root = MachineInfo.FindRepositoryRoot();
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

try
{
    switch (command)
    {
        case "cache":
        {
            var options = CacheSuite.Parse(cli, root, CommandLine("cache", args));
            cli.RejectUnknown();
            return await CacheSuite.RunAsync(options, MachineInfo.Capture(root), cancel.Token);
        }

        case "overhead":
        {
            var options = OverheadSuite.Parse(cli, root, CommandLine("overhead", args));
            cli.RejectUnknown();
            return await OverheadSuite.RunAsync(options, MachineInfo.Capture(root), cancel.Token);
        }

        case "micro":
        {
            var options = MicroSuite.Parse(cli, root, CommandLine("micro", args));
            cli.RejectUnknown();
            return await MicroSuite.RunAsync(options, MachineInfo.Capture(root), cancel.Token);
        }

        case "floor":
        {
            var options = FollowUpFloor.Parse(cli, CommandLine("floor", args));
            cli.RejectUnknown();
            return FollowUpFloor.Run(options);
        }

        case "host":
            // Internal: hosts one proxy or upstream out of process for the overhead suite.
            return await HostCommand.RunAsync(cli, cancel.Token);

        default:
            AnsiConsole.MarkupLine($"[red]Unknown command '{Markup.Escape(command)}'[/]");
            PrintUsage();
            return 2;
    }
}
catch (ArgumentException ex)
{
    AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
    return 2;
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    AnsiConsole.MarkupLine("[yellow]Cancelled.[/]");
    return 130;
}

static string CommandLine(string suite, string[] args) =>
    "scripts/bench.sh " + string.Join(' ', args.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a));

static void PrintUsage()
{
    Console.WriteLine("""
        LlamaGateway.Bench: benchmarks for llama-gateway (run through scripts/bench.sh).

          cache     Cache reuse on a real llama-server: direct vs a single-threaded normalizing proxy (-np 1 and -np S)
                    vs the gateway, replaying simulated Claude Code users.
                    --users 6 --slots 4 --instances 1 --turns 6 --conversations 3 --cache-ram 170 --batch 512 --seed 42
                    --side-every 3 --subagent-requests 2 --count-tokens 20 --think 1.0 --model bench|fast|PATH --prefill-chunk-seconds 0.5
                    --variants direct,naive-np1,naive,gateway,gateway-slot-save[,gateway-slot-save-nochunk,gateway-slot-save-pause,gateway-slot-save-idle,gateway-slot-save-peruser] --llama-server PATH --out DIR --quick
                    --solo: users one at a time (no request shares the server with another user's: the floor)
          floor     Follow-up turns of a loaded cache run split into own work (priced by a solo run of the same replay) and
                    waiting, against the follow-up target: --solo DIR --load DIR --variant gateway-slot-save --baseline direct --out FILE
          overhead  Gateway vs plain YARP pass-through vs direct, against a zero-work upstream, with Claude Code-sized
                    bodies: --concurrency 1,16,64 --requests N --warmup N --warmup-seconds 5 --measure-seconds 8 --sizes 40,100,200
                    --targets direct,yarp,gateway[,gateway-quiet,gateway-anthropic] --gateway-log shipped|Warning|... --gateway-dialect openai|anthropic
                    --rounds 3 --max-warmup-seconds 90 --paired-windows 10 --window-seconds 3 --out DIR --quick
          micro     BenchmarkDotNet for the normalizer, fingerprinter and routing decision on a 100 KB body, plus the
                    memory of 10,000 tracked conversations: --conversations 10000 --only TEXT --out DIR --quick

        Results: bench/results/<suite>.md and .png (--quick writes to bench/results/quick/).
        """);
}
