using LlamaGateway.Auth;
using LlamaGateway.Conversations;
using LlamaGateway.Forwarding;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Routing;
using LlamaGateway.Status;
using LlamaGateway.Upstreams;
using LlamaGateway.Usage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Hosting;

internal static class GatewayServiceCollectionExtensions
{
    /// <summary>Registers the gateway's options (validated at start-up), pipeline stages and background services.</summary>
    public static IServiceCollection AddGateway(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<GatewayOptions>()
            .Bind(configuration.GetSection(GatewayOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        services.AddOptions<RoutingOptions>()
            .Bind(configuration.GetSection($"{GatewayOptions.SectionName}:Routing"))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<RoutingOptions>, RoutingOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);

        // Kestrel's own 30 MB cap would pre-empt ours with a less helpful message; the reader enforces the limit.
        services.Configure<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>(kestrel => kestrel.Limits.MaxRequestBodySize = null);

        services.AddHttpForwarder();
        services.AddHttpClient(UpstreamMonitor.HttpClientName, client => client.Timeout = TimeSpan.FromSeconds(3))
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2) });

        services.AddSingleton<UpstreamRegistry>();
        services.AddSingleton<UpstreamMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<UpstreamMonitor>());
        services.AddSingleton<UpstreamHttpClient>();
        services.AddSingleton<RequestBodyReader>();
        services.AddSingleton<ConversationTable>();
        services.AddSingleton<SlotRouter>();
        services.AddSingleton<ResponseRelay>();
        services.AddSingleton<UpstreamForwarder>();
        services.AddSingleton<UsageLedger>();
        services.AddSingleton<ModelRequestHandler>();
        services.AddGatewayAuth();
        services.AddGatewayStatus(configuration);
        return services;
    }
}
