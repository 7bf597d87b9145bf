using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using LlamaGateway.Forwarding;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Reliability;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace LlamaGateway.Upstreams;

/// <summary>
/// Probes every instance on its own schedule: <c>GET /health</c> for liveness and <c>GET /props</c> for the slot
/// count and model, through the instance's resilience pipeline. Healthy instances are probed every
/// <c>Gateway:Health:IntervalSeconds</c> (with jitter), unhealthy ones every <c>UnhealthyIntervalSeconds</c>, so a
/// restarted server is back in routing within seconds. Instances added by a reload are probed at once. A failing
/// probe never stops the loop: an exception here would stop the whole host.
/// </summary>
internal sealed class UpstreamMonitor : BackgroundService
{
    public const string HttpClientName = UpstreamHttpClient.CallClientName;

    private readonly UpstreamRegistry _registry;
    private readonly IHttpClientFactory _clients;
    private readonly UpstreamHealth _health;
    private readonly UpstreamCallPipelines _pipelines;
    private readonly IOptionsMonitor<GatewayOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILogger<UpstreamMonitor> _logger;
    private readonly Routing.SlotRouter _router;
    private readonly ConditionalWeakTable<UpstreamInstance, Schedule> _schedules = new();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public UpstreamMonitor(UpstreamRegistry registry, IHttpClientFactory clients, UpstreamHealth health, UpstreamCallPipelines pipelines,
        IOptionsMonitor<GatewayOptions> options, TimeProvider time, ILogger<UpstreamMonitor> logger, Routing.SlotRouter router)
    {
        _router = router;
        _registry = registry;
        _clients = clients;
        _health = health;
        _pipelines = pipelines;
        _options = options;
        _time = time;
        _logger = logger;
        _health.WentDown += OnWentDown;
        _registry.Changed += Wake;
    }

    /// <summary>Probes every instance now and waits for the results (start-up checks and tests).</summary>
    public async Task ProbeAllAsync(CancellationToken cancellationToken)
    {
        var instances = _registry.Instances;
        var probes = new Task[instances.Count];
        for (var i = 0; i < instances.Count; i++)
        {
            probes[i] = ProbeAsync(instances[i], cancellationToken);
        }

        await Task.WhenAll(probes);

        // New slot counts or a recovered instance can unblock requests waiting in the router's queue.
        _router.Refresh();
    }

    /// <summary>One probe of one instance: health, then discovery; updates the instance's health. Never throws.</summary>
    public async Task ProbeAsync(UpstreamInstance instance, CancellationToken cancellationToken)
    {
        var pipeline = _pipelines.For(instance);
        try
        {
            var client = _clients.CreateClient(HttpClientName);
            await pipeline.ExecuteAsync(async token =>
            {
                using var health = new HttpRequestMessage(HttpMethod.Get, new Uri(instance.BaseUri, "health"));
                Authorize(health, instance);
                using var response = await client.SendAsync(health, HttpCompletionOption.ResponseHeadersRead, token);
                if (!response.IsSuccessStatusCode)
                {
                    // llama-server answers 503 while it loads the model: alive, but not ready for requests.
                    throw new HttpRequestException($"GET /health answered {(int)response.StatusCode}", null, response.StatusCode);
                }
            }, cancellationToken);

            if (instance.Dialect == ApiDialect.OpenAi || !instance.SlotsDiscovered)
            {
                await pipeline.ExecuteAsync(token => ReadPropsAsync(client, instance, token), cancellationToken);
            }

            _health.ProbeSucceeded(instance);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (BrokenCircuitException)
        {
            // The circuit opened on earlier failures and is not yet due a trial call: still down, nothing was sent.
            _health.ProbeFailed(instance, instance.LastError ?? "not answering (circuit open)", instance.PublicError ?? "not answering (circuit open)");
        }
        catch (TimeoutRejectedException)
        {
            _health.ProbeTimedOut(instance, $"health probe timed out after {_options.CurrentValue.Health.ProbeTimeoutSeconds:0.#} s (Gateway:Health:ProbeTimeoutSeconds)");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or JsonException or OperationCanceledException)
        {
            _health.ProbeFailed(instance, ex.GetBaseException().Message);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var running = new List<Task>();
        while (!stoppingToken.IsCancellationRequested)
        {
            // A fresh wake signal before looking at the schedules: a change after this point wakes this wait.
            var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _wake, wake);

            var health = _options.CurrentValue.Health;
            var now = _time.GetTimestamp();
            var wait = TimeSpan.FromSeconds(health.IntervalSeconds);
            running.RemoveAll(t => t.IsCompleted);
            foreach (var instance in _registry.Instances)
            {
                var schedule = _schedules.GetValue(instance, static _ => new Schedule());
                if (schedule.Running is { IsCompleted: false })
                {
                    continue;
                }

                var due = _time.GetElapsedTime(now, schedule.NextDue);
                if (due <= TimeSpan.Zero)
                {
                    schedule.Running = ProbeOnScheduleAsync(instance, schedule, stoppingToken);
                    running.Add(schedule.Running);
                }
                else if (due < wait)
                {
                    wait = due;
                }
            }

            using var sleep = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var delay = Task.Delay(wait, _time, sleep.Token);
            await Task.WhenAny(delay, wake.Task);
            sleep.Cancel();
            await delay.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        await Task.WhenAll(running);
    }

    private async Task ProbeOnScheduleAsync(UpstreamInstance instance, Schedule schedule, CancellationToken stoppingToken)
    {
        try
        {
            await ProbeAsync(instance, stoppingToken);

            // New slot counts or a recovered instance can unblock requests waiting in the router's queue.
            _router.Refresh();
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            _health.ProbeFailed(instance, ex.GetBaseException().Message);
        }
        finally
        {
            var health = _options.CurrentValue.Health;
            var seconds = instance.IsHealthy ? health.IntervalSeconds : health.UnhealthyIntervalSeconds;

            // Up to 20% jitter keeps several gateways (or instances) from probing in lock-step.
            schedule.NextDue = _time.GetTimestamp() + (long)(seconds * (1 + (Random.Shared.NextDouble() * 0.2)) * _time.TimestampFrequency);
            Wake();
        }
    }

    private void OnWentDown(UpstreamInstance instance)
    {
        var schedule = _schedules.GetValue(instance, static _ => new Schedule());
        var soon = _time.GetTimestamp() + (long)(_options.CurrentValue.Health.UnhealthyIntervalSeconds * _time.TimestampFrequency);
        if (schedule.NextDue > soon)
        {
            schedule.NextDue = soon;
        }

        Wake();
    }

    private void Wake() => Volatile.Read(ref _wake).TrySetResult();

    private async ValueTask ReadPropsAsync(HttpClient client, UpstreamInstance instance, CancellationToken cancellationToken)
    {
        using var props = new HttpRequestMessage(HttpMethod.Get, new Uri(instance.BaseUri, "props"));
        Authorize(props, instance);
        using var response = await client.SendAsync(props, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            // Not every server has /props; the instance is alive (its /health answered), keep what is known.
            return;
        }

        var firstDiscovery = !instance.SlotsDiscovered || !instance.IsHealthy;
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
        }
        catch (JsonException)
        {
            // A /props body that is not JSON says nothing about slots; the server itself is up.
            return;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            if (instance.Options.Slots is null && root.TryGetProperty("total_slots", out var slots) && slots.ValueKind == JsonValueKind.Number && slots.TryGetInt32(out var count))
            {
                instance.SetSlotCount(Math.Min(count, 1024));
            }

            if (root.TryGetProperty("model_path", out var model) && model.ValueKind == JsonValueKind.String)
            {
                instance.ModelName = Path.GetFileName(model.GetString());
            }
        }

        if (firstDiscovery)
        {
            GatewayLog.UpstreamDiscovered(_logger, instance.Name, instance.DestinationPrefix, instance.SlotCount, instance.Dialect.ToString(), instance.ModelName ?? "?");
        }
    }

    private static void Authorize(HttpRequestMessage message, UpstreamInstance instance)
    {
        if (!string.IsNullOrEmpty(instance.Options.ApiKey))
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", instance.Options.ApiKey);
        }
    }

    /// <summary>When an instance is next probed, and the probe running now. Touched by the loop and its probes.</summary>
    private sealed class Schedule
    {
        private long _nextDue;

        public long NextDue
        {
            get => Interlocked.Read(ref _nextDue);
            set => Interlocked.Exchange(ref _nextDue, value);
        }

        public Task? Running { get; set; }
    }
}
