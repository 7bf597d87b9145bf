using LlamaGateway.Auth;

namespace LlamaGateway.Hosting;

/// <summary>Builds the gateway's web application; shared by <c>Program</c> and the functional tests.</summary>
internal static class GatewayApplication
{
    /// <param name="args">Command-line arguments (any configuration key, and <c>--urls</c>).</param>
    /// <param name="configure">Extra set-up (tests use it for in-memory configuration).</param>
    /// <param name="useConfigFile">Whether to read the located appsettings.json (tests pass false).</param>
    /// <param name="configPath">The configuration file to read and watch instead of the located one.</param>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null, bool useConfigFile = true, string? configPath = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        if (useConfigFile)
        {
            builder.AddGatewayConfiguration(args, configPath);
        }

        configure?.Invoke(builder);
        builder.AddGatewayLogging();
        builder.Services.AddGateway(builder.Configuration);

        var app = builder.Build();
        app.UseGatewayAccess();
        app.MapGateway();
        return app;
    }
}
