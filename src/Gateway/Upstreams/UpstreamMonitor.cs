using System.Net.Http.Headers;
using System.Text.Json;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Upstreams;

/// <summary>
/// Probes every instance on an interval: <c>GET /health</c> for liveness and <c>GET /props</c> for the slot count
/// and model. An instance that fails is taken out of routing and brought back when it answers again.
/// </summary>
internal sealed class UpstreamMonitor(UpstreamRegistry registry, IHttpClientFactory clients, TimeProvider time, ILogger<UpstreamMonitor> logger, Routing.SlotRouter router) : BackgroundService
{
    public const string HttpClientName = "upstream-probe";

    internal static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await ProbeAllAsync(stoppingToken);
            try
            {
                // Jitter keeps several gateways (or instances) from probing in lock-step.
                await Task.Delay(Interval + TimeSpan.FromMilliseconds(Random.Shared.Next(0, 1000)), time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async Task ProbeAllAsync(CancellationToken cancellationToken)
    {
        var instances = registry.Instances;
        var probes = new Task[instances.Count];
        for (var i = 0; i < instances.Count; i++)
        {
            probes[i] = ProbeAsync(instances[i], cancellationToken);
        }

        await Task.WhenAll(probes);

        // New slot counts or a recovered instance can unblock requests waiting in the router's queue.
        router.Refresh();
    }

    public async Task ProbeAsync(UpstreamInstance instance, CancellationToken cancellationToken)
    {
        var wasHealthy = instance.IsHealthy;
        try
        {
            var client = clients.CreateClient(HttpClientName);
            using var health = new HttpRequestMessage(HttpMethod.Get, new Uri(instance.BaseUri, "health"));
            Authorize(health, instance);
            using var healthResponse = await client.SendAsync(health, cancellationToken);
            if (!healthResponse.IsSuccessStatusCode)
            {
                Unhealthy(instance, $"GET /health answered {(int)healthResponse.StatusCode}", wasHealthy);
                return;
            }

            if (instance.Dialect == ApiDialect.OpenAi || !instance.SlotsDiscovered)
            {
                await ReadPropsAsync(client, instance, wasHealthy, cancellationToken);
            }

            instance.MarkHealthy();
            if (!wasHealthy)
            {
                GatewayLog.UpstreamRecovered(logger, instance.Name);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
        {
            Unhealthy(instance, ex is TaskCanceledException ? "health probe timed out" : ex.GetBaseException().Message, wasHealthy);
        }
    }

    private async Task ReadPropsAsync(HttpClient client, UpstreamInstance instance, bool wasHealthy, CancellationToken cancellationToken)
    {
        using var props = new HttpRequestMessage(HttpMethod.Get, new Uri(instance.BaseUri, "props"));
        Authorize(props, instance);
        using var response = await client.SendAsync(props, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            return;
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
        var root = document.RootElement;
        var firstDiscovery = !instance.SlotsDiscovered || !wasHealthy;
        if (instance.Options.Slots is null && root.TryGetProperty("total_slots", out var slots) && slots.TryGetInt32(out var count))
        {
            instance.SetSlotCount(count);
        }

        if (root.TryGetProperty("model_path", out var model) && model.ValueKind == JsonValueKind.String)
        {
            instance.ModelName = Path.GetFileName(model.GetString());
        }

        if (firstDiscovery)
        {
            GatewayLog.UpstreamDiscovered(logger, instance.Name, instance.DestinationPrefix, instance.SlotCount, instance.Dialect.ToString(), instance.ModelName ?? "?");
        }
    }

    private void Unhealthy(UpstreamInstance instance, string reason, bool wasHealthy)
    {
        instance.MarkUnhealthy(reason);
        if (wasHealthy)
        {
            GatewayLog.UpstreamUnavailable(logger, instance.Name, instance.DestinationPrefix, reason);
        }
    }

    private static void Authorize(HttpRequestMessage message, UpstreamInstance instance)
    {
        if (!string.IsNullOrEmpty(instance.Options.ApiKey))
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", instance.Options.ApiKey);
        }
    }
}
