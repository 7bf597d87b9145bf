using LlamaGateway.Hosting;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Reliability;

/// <summary>
/// Graceful stop. When the host begins stopping, Kestrel stops accepting connections and in-flight requests keep
/// running; after <c>Gateway:Shutdown:DrainSeconds</c> <see cref="DrainExpired"/> fires and the requests still
/// running end themselves with an error in their client's dialect (streams with an error event) instead of being cut
/// off when the host's shutdown timeout (the drain time plus a grace period) aborts the connections.
/// </summary>
internal sealed class GatewayShutdown : IHostedService, IDisposable
{
    /// <summary>Time after the drain for the error events to be written before the host aborts connections.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource _drainExpired = new();
    private readonly IHostApplicationLifetime _lifetime;
    private readonly IOptionsMonitor<GatewayOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILogger<GatewayShutdown> _logger;
    private CancellationTokenRegistration _stopping;
    private ITimer? _timer;
    private int _inFlight;

    public GatewayShutdown(IHostApplicationLifetime lifetime, IOptionsMonitor<GatewayOptions> options, TimeProvider time, ILogger<GatewayShutdown> logger)
    {
        _lifetime = lifetime;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Set once the host began stopping: new model requests are turned away.</summary>
    public bool IsStopping => _lifetime.ApplicationStopping.IsCancellationRequested;

    /// <summary>Cancelled when the drain time is over: whatever is still running must end now.</summary>
    public CancellationToken DrainExpired => _drainExpired.Token;

    /// <summary>Model requests running right now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Counts a model request in; dispose the result when it is finished.</summary>
    public InFlightRequest Enter()
    {
        Interlocked.Increment(ref _inFlight);
        return new InFlightRequest(this);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = _lifetime.ApplicationStopping.Register(static state => ((GatewayShutdown)state!).BeginDrain(), this);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        _stopping.Dispose();
        _timer?.Dispose();
        _drainExpired.Dispose();
    }

    private void BeginDrain()
    {
        var seconds = _options.CurrentValue.Shutdown.DrainSeconds;
        ReliabilityLog.Draining(_logger, InFlight, seconds);
        _timer = _time.CreateTimer(static state => ((GatewayShutdown)state!).EndDrain(), this, TimeSpan.FromSeconds(Math.Max(0, seconds)), Timeout.InfiniteTimeSpan);
    }

    private void EndDrain()
    {
        if (InFlight > 0)
        {
            ReliabilityLog.DrainExpired(_logger, InFlight);
        }

        try
        {
            _drainExpired.Cancel();
        }
        catch (Exception ex) when (ex is ObjectDisposedException or AggregateException)
        {
            // On a timer thread an escaping exception would end the process mid-shutdown.
        }
    }

    internal readonly struct InFlightRequest(GatewayShutdown owner) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref owner._inFlight);
    }
}
