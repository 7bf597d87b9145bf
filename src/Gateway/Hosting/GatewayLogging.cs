using Serilog;

namespace LlamaGateway.Hosting;

internal static class GatewayLogging
{
    /// <summary>
    /// Serilog to the console, configured from the <c>Serilog</c> section (levels). The console is written from a
    /// background queue: a synchronous console write per request line sat on every request's path (profiled under
    /// the overhead bench). The queue blocks rather than drops when full, so no line is lost; disposing the logger
    /// at shutdown flushes it.
    /// </summary>
    public static WebApplicationBuilder AddGatewayLogging(this WebApplicationBuilder builder)
    {
        var logger = new LoggerConfiguration()
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.FromLogContext()
            .WriteTo.Async(
                sink => sink.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}"),
                bufferSize: 10_000,
                blockWhenFull: true)
            .CreateLogger();
        builder.Logging.ClearProviders();
        builder.Logging.AddSerilog(logger, dispose: true);
        return builder;
    }
}
