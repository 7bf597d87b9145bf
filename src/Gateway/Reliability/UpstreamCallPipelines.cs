using System.Runtime.CompilerServices;
using LlamaGateway.Hosting;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace LlamaGateway.Reliability;

/// <summary>
/// One Polly pipeline per instance for the gateway's own calls to it (health probes and discovery; slot save/restore
/// calls only consult its circuit, see <c>SlotStateClient</c>): retry with exponential backoff and jitter around a
/// circuit breaker around a per-attempt timeout.
/// The breaker is shared by all such calls to one instance, so once a server stops answering they fail at once instead
/// of each waiting out its timeouts. Forwarded client requests never go through here: they are retried only before
/// anything reached the upstream (see <c>ModelRequestHandler</c>).
/// </summary>
internal sealed class UpstreamCallPipelines(IOptionsMonitor<GatewayOptions> options, TimeProvider time, ILogger<UpstreamCallPipelines> logger)
{
    private static readonly TimeSpan SamplingDuration = TimeSpan.FromSeconds(30);

    private readonly ConditionalWeakTable<UpstreamInstance, Entry> _pipelines = new();

    /// <summary>The pipeline for <paramref name="instance"/>; rebuilt (circuit closed) when <c>Gateway:Health</c> changes.</summary>
    public ResiliencePipeline For(UpstreamInstance instance) => EntryFor(instance).Pipeline;

    /// <summary>State of the instance's circuit, for the dashboard and tests.</summary>
    public CircuitState CircuitState(UpstreamInstance instance) => EntryFor(instance).State.CircuitState;

    private Entry EntryFor(UpstreamInstance instance)
    {
        var settings = Settings.From(options.CurrentValue.Health);
        if (_pipelines.TryGetValue(instance, out var entry) && entry.Settings == settings)
        {
            return entry;
        }

        lock (_pipelines)
        {
            if (_pipelines.TryGetValue(instance, out entry) && entry.Settings == settings)
            {
                return entry;
            }

            entry = Build(instance, settings);
            _pipelines.AddOrUpdate(instance, entry);
            return entry;
        }
    }

    private Entry Build(UpstreamInstance instance, Settings settings)
    {
        // What counts as a failed call: no connection, an error status (thrown as HttpRequestException by the
        // caller), a broken body, or an attempt that timed out. An open circuit is not retried.
        var failures = new PredicateBuilder()
            .Handle<HttpRequestException>()
            .Handle<IOException>()
            .Handle<TimeoutRejectedException>()
            .Handle<System.Text.Json.JsonException>();
        var state = new CircuitBreakerStateProvider();
        var builder = new ResiliencePipelineBuilder { Name = $"upstream:{instance.Name}", TimeProvider = time };
        if (settings.Retries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = settings.Retries,
                Delay = TimeSpan.FromMilliseconds(200),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = failures,
            });
        }

        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            // Only a run of nothing but failures opens it: an instance that answers some calls is not cut off.
            FailureRatio = 1.0,
            MinimumThroughput = Math.Max(2, settings.Retries + 1),
            SamplingDuration = SamplingDuration,
            BreakDuration = settings.Break,
            ShouldHandle = failures,
            StateProvider = state,
            OnOpened = args =>
            {
                ReliabilityLog.CircuitOpened(logger, instance.Name, args.BreakDuration.TotalSeconds, args.Outcome.Exception?.Message ?? "failed");
                return ValueTask.CompletedTask;
            },
            OnClosed = _ =>
            {
                ReliabilityLog.CircuitClosed(logger, instance.Name);
                return ValueTask.CompletedTask;
            },
        });
        builder.AddTimeout(settings.AttemptTimeout);
        return new Entry(settings, builder.Build(), state);
    }

    private sealed record Entry(Settings Settings, ResiliencePipeline Pipeline, CircuitBreakerStateProvider State);

    private readonly record struct Settings(int Retries, TimeSpan AttemptTimeout, TimeSpan Break)
    {
        public static Settings From(HealthOptions health) => new(
            Math.Clamp(health.ProbeRetries, 0, 10),
            TimeSpan.FromSeconds(Math.Clamp(health.ProbeTimeoutSeconds, 0.05, 600)),
            TimeSpan.FromSeconds(Math.Clamp(health.BreakSeconds, 0.5, 3600)));
    }
}
