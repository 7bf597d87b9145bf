using LlamaGateway.Metrics;
using LlamaGateway.Usage;

namespace LlamaGateway.Status;

internal static class StatusServiceCollectionExtensions
{
    /// <summary>The dashboard's data sources (recent errors, cache-use history) and /metrics.</summary>
    public static IServiceCollection AddGatewayStatus(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StatusOptions>()
            .Bind(configuration.GetSection(StatusOptions.SectionName))
            .Validate(o => o.SampleSeconds is >= 1 and <= 3600, $"{StatusOptions.SectionName}:SampleSeconds must be between 1 and 3600 seconds")
            .Validate(o => o.HistoryMinutes is >= 1 and <= 1440, $"{StatusOptions.SectionName}:HistoryMinutes must be between 1 and 1440 minutes")
            .Validate(o => o.SampleSeconds is < 1 || o.Capacity <= 100_000, $"{StatusOptions.SectionName}: HistoryMinutes / SampleSeconds gives more than 100,000 points")
            .ValidateOnStart();
        services.AddSingleton<RecentErrors>();
        services.AddSingleton<UsageTimeSeries>();
        services.AddHostedService(sp => sp.GetRequiredService<UsageTimeSeries>());
        services.AddSingleton<StatusSnapshotBuilder>();
        services.AddSingleton<RequestMetrics>();
        services.AddSingleton<MetricsExporter>();
        return services;
    }
}
