using Serilog;

namespace LlamaGateway.Hosting;

internal static class GatewayLogging
{
    /// <summary>
    /// Serilog to the console, configured from the <c>Serilog</c> section (levels). The console is written from a
    /// background queue (<see cref="BackgroundLogSink"/>): a synchronous console write per request line sat on every
    /// request's path (profiled under the overhead bench). Disposing the logger at shutdown flushes it. Kestrel's
    /// own categories are pinned at Warning (<see cref="KestrelLogPin"/>).
    /// </summary>
    public static WebApplicationBuilder AddGatewayLogging(this WebApplicationBuilder builder)
    {
        var logger = new LoggerConfiguration()
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.FromLogContext()
            .Filter.ByExcluding(StartupFailure.IsHostStartupFault)
            .WriteTo.Sink(new BackgroundLogSink(ConsoleSink(), capacity: 10_000))
            .CreateLogger();
        builder.Logging.ClearProviders();
        builder.Logging.AddSerilog(logger, dispose: true);
        builder.Services.PostConfigure<LoggerFilterOptions>(KestrelLogPin.Apply);
        return builder;
    }

    private const string OutputTemplate = "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}";

    private static Serilog.Core.ILogEventSink ConsoleSink() => Console.IsOutputRedirected
        ? new BufferedTextSink(Console.OpenStandardOutput(), OutputTemplate)
        : new LoggerConfiguration()
            .MinimumLevel.Verbose()
            .WriteTo.Console(outputTemplate: OutputTemplate)
            .CreateLogger();
}
