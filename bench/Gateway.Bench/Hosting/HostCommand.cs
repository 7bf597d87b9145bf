using LlamaGateway.Bench.Infrastructure;
using LlamaGateway.Bench.Overhead;
using LlamaGateway.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace LlamaGateway.Bench.Hosting;

/// <summary>
/// <c>host zero|yarp|gateway</c>: runs one server in its own process (so its peak RSS is its own), prints
/// <c>LISTENING url</c> once it accepts connections, and runs until the bench ends it.
/// </summary>
internal static class HostCommand
{
    public const string ReadyPrefix = "LISTENING ";

    /// <summary>Prefix of the line printed every <see cref="JitReportInterval"/>: methods compiled so far by the JIT.</summary>
    public const string JitPrefix = "JIT ";

    public static readonly TimeSpan JitReportInterval = TimeSpan.FromMilliseconds(500);

    public static async Task<int> RunAsync(Cli cli, CancellationToken cancellationToken)
    {
        var what = cli.Positional.FirstOrDefault() ?? throw new ArgumentException("host: expected zero, yarp, yarp-large-blocks or gateway");
        var upstream = cli.String("upstream");
        var slots = cli.Int("slots", 128);
        var logLevel = cli.String("log-level", "shipped")!;
        var dialect = cli.String("dialect", "openai")!;
        cli.RejectUnknown();
        WebApplication app = what switch
        {
            "zero" => ZeroUpstream.Build(slots),
            "yarp" => YarpPassThrough.Build(upstream ?? throw new ArgumentException("host yarp: --upstream URL")),
            "yarp-large-blocks" => YarpPassThrough.Build(upstream ?? throw new ArgumentException("host yarp-large-blocks: --upstream URL"), largeReadBlocks: true),
            "gateway" => BuildGateway(upstream ?? throw new ArgumentException("host gateway: --upstream URL"), slots, logLevel, dialect),
            _ => throw new ArgumentException($"host: unknown server '{what}'"),
        };
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        Console.Out.WriteLine(ReadyPrefix + address);
        Console.Out.Flush();
        _ = ReportJitAsync(cancellationToken);

        // Until the bench ends this process (SIGTERM/SIGINT stop the host; the bench kills it by its id otherwise).
        await app.WaitForShutdownAsync(cancellationToken);
        return 0;
    }

    /// <summary>
    /// Tiered compilation goes on in the background for tens of seconds under load on 2 busy cores (seen: the JIT
    /// thread at 13 % of the gateway's CPU 20 s in), and a server that has been running has none of it. The bench
    /// reads these lines to start measuring only once compilation has settled.
    /// </summary>
    private static async Task ReportJitAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(JitReportInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                Console.Out.WriteLine(JitPrefix + System.Runtime.JitInfo.GetCompiledMethodCount().ToString(System.Globalization.CultureInfo.InvariantCulture));
                Console.Out.Flush();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// The gateway with the repository's appsettings.json (as shipped: its logging levels, normalization and timeouts)
    /// and only the upstream and listen address replaced; <paramref name="logLevel"/> other than "shipped" overrides
    /// Serilog's default level.
    /// </summary>
    private static WebApplication BuildGateway(string upstream, int slots, string logLevel, string dialect)
    {
        var shipped = Path.Combine(MachineInfo.FindRepositoryRoot(), "appsettings.json");
        return GatewayApplication.Create(["--urls", "http://127.0.0.1:0"], builder =>
        {
            if (File.Exists(shipped))
            {
                builder.Configuration.AddJsonFile(shipped, optional: false, reloadOnChange: false);
            }

            var overrides = new Dictionary<string, string?>
            {
                ["Urls"] = "http://127.0.0.1:0",
                ["Gateway:Upstreams:0:Name"] = "zero",
                ["Gateway:Upstreams:0:BaseUrl"] = upstream,
                ["Gateway:Upstreams:0:Dialect"] = dialect,
                ["Gateway:Upstreams:0:Slots"] = slots.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            if (!string.Equals(dialect, "openai", StringComparison.OrdinalIgnoreCase))
            {
                // The shipped SlotSave needs slot pinning, which only the openai dialect has (start-up validation says so).
                overrides["Gateway:Upstreams:0:SlotSave:Enabled"] = "false";
            }

            if (!string.Equals(logLevel, "shipped", StringComparison.OrdinalIgnoreCase))
            {
                overrides["Serilog:MinimumLevel:Default"] = logLevel;
            }

            builder.Configuration.AddInMemoryCollection(overrides);
        }, useConfigFile: false);
    }
}
