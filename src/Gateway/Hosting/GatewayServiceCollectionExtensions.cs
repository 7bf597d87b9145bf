using LlamaGateway.Auth;
using LlamaGateway.Conversations;
using LlamaGateway.Forwarding;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.PrefillChunking;
using LlamaGateway.Reliability;
using LlamaGateway.Routing;
using LlamaGateway.SlotPersistence;
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

        // Reloads of these apply all together or not at all; an invalid edit keeps the last good values.
        services.AddLastGoodOptions<GatewayOptions>();
        services.AddLastGoodOptions<RoutingOptions>();
        services.TryAddSingleton(TimeProvider.System);

        // In-flight streams get the drain time to finish, then a grace period to write their error events, before the
        // host aborts what is left.
        services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(ReadSeconds(configuration, "Gateway:Shutdown:DrainSeconds", new ShutdownOptions().DrainSeconds, 0, 3600)) + GatewayShutdown.Grace);
        services.AddSingleton<GatewayShutdown>();
        services.AddHostedService(sp => sp.GetRequiredService<GatewayShutdown>());

        // Kestrel's own 30 MB cap would pre-empt ours with a less helpful message; the reader enforces the limit.
        services.Configure<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>(kestrel => kestrel.Limits.MaxRequestBodySize = null);
        services.AddLargeKestrelReadBlocks();

        services.AddHttpForwarder();
        // One client for the gateway's own calls: health probes (timeouts and retries from each instance's resilience
        // pipeline, Gateway:Health), slot save/restore (a save of a big state takes seconds: SlotSave:TimeoutSeconds per
        // call) and prefill chunks (short, but one can wait behind a busy server's batches); each call sets its own timeout.
        AddUpstreamCallClient(services, configuration);

        services.AddSingleton<UpstreamRegistry>();
        services.AddSingleton<UpstreamHealth>();
        services.AddSingleton<UpstreamCallPipelines>();
        services.AddSingleton<UpstreamMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<UpstreamMonitor>());
        services.AddSingleton<PrefillChunkClient>();
        services.AddSingleton<PrefillChunker>();
        services.AddSingleton<SavedStateCatalog>();
        services.AddSingleton<SlotStateClient>();
        services.AddSingleton<SlotHandover>();
        services.AddSingleton<UpstreamHttpClient>();
        services.AddSingleton<RequestBodyReader>();
        services.AddSingleton<ConversationTable>();
        services.AddSingleton<CacheIsolation>();
        services.AddSingleton<SlotRouter>();
        services.AddSingleton<ResponseRelay>();
        services.AddSingleton<UpstreamForwarder>();
        services.AddSingleton<UsageLedger>();
        services.AddSingleton<ModelRequestHandler>();
        services.AddGatewayAuth();
        services.AddGatewayStatus(configuration);
        return services;
    }

    /// <summary>Routes <typeparamref name="TOptions"/> reloads through the <see cref="ConfigurationReloadGate"/>.</summary>
    public static IServiceCollection AddLastGoodOptions<TOptions>(this IServiceCollection services)
        where TOptions : class
    {
        services.TryAddSingleton<ConfigurationReloadGate>();
        services.AddSingleton(new GatedOptionsType(typeof(TOptions)));
        services.AddSingleton<IOptionsMonitor<TOptions>, LastGoodOptionsMonitor<TOptions>>();
        return services;
    }

    /// <summary>
    /// The named client for the gateway's own calls to upstreams beside the forwarded requests (health probes, slot
    /// save/restore, prefill chunks): no overall timeout, because each call sets its own, and a bounded pool per
    /// instance (<see cref="UpstreamHttpClient.CallClientConnections"/>).
    /// </summary>
    private static void AddUpstreamCallClient(IServiceCollection services, IConfiguration configuration) =>
        services.AddHttpClient(UpstreamHttpClient.CallClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                UseProxy = false,
                ConnectTimeout = TimeSpan.FromSeconds(ReadSeconds(configuration, "Gateway:Timeouts:ConnectSeconds", new TimeoutOptions().ConnectSeconds, 0.1, 600)),
                PooledConnectionIdleTimeout = UpstreamHttpClient.PooledConnectionIdleTimeout,
                MaxConnectionsPerServer = UpstreamHttpClient.CallClientConnections,
            });

    // Read from configuration directly: these are needed before the gateway's options are validated, and an invalid
    // value is reported by GatewayOptionsValidator at start-up.
    private static double ReadSeconds(IConfiguration configuration, string key, double fallback, double min, double max)
    {
        double? seconds = null;
        try
        {
            seconds = configuration.GetValue<double?>(key);
        }
        catch (InvalidOperationException)
        {
        }

        return Math.Clamp(seconds is { } value && double.IsFinite(value) ? value : fallback, min, max);
    }
}
