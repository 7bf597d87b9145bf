using LlamaGateway.Auth;

namespace LlamaGateway.Hosting;

/// <summary>Builds the gateway's web application; shared by <c>Program</c> and the functional tests.</summary>
internal static class GatewayApplication
{
    /// <param name="args">Command-line arguments (any configuration key, and <c>--urls</c>).</param>
    /// <param name="configure">Extra set-up (tests use it for in-memory configuration).</param>
    /// <param name="useConfigFile">Whether to read the located appsettings.json (tests pass false).</param>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null, bool useConfigFile = true)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        if (useConfigFile)
        {
            builder.AddGatewayConfiguration(args);
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
