using System.Collections.Concurrent;
using LlamaGateway.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace LlamaGateway.Bench.Cache;

/// <summary>The real gateway (<see cref="GatewayApplication"/>) on Kestrel in this process, loopback port 0.</summary>
internal sealed class InProcessGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private ConcurrentDictionary<int, GatewayDecision>? _decisions;

    private InProcessGateway(WebApplication app, string baseUrl, GatewayLogCapture logs)
    {
        _app = app;
        BaseUrl = baseUrl;
        Logs = logs;
    }

    public string BaseUrl { get; }

    /// <summary>The gateway's own per-request log events (slot, reason), for the report.</summary>
    public GatewayLogCapture Logs { get; }

    /// <summary>What the gateway decided for each bench request (by the X-Bench-Request header's id).</summary>
    public IReadOnlyDictionary<int, GatewayDecision> Decisions => _decisions ?? new ConcurrentDictionary<int, GatewayDecision>();

    public static async Task<InProcessGateway> StartAsync(IReadOnlyList<string> upstreams, int slots, IDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            // The console logger would draw over the progress display; the capture below still sees every event.
            ["Serilog:MinimumLevel:Default"] = "Warning",
            // Cold prefill of a Claude Code prompt on a busy 2-core box can take minutes.
            ["Gateway:Timeouts:FirstByteSeconds"] = "1800",
            ["Gateway:Routing:MaxQueueSeconds"] = "1800",
        };
        for (var i = 0; i < upstreams.Count; i++)
        {
            settings[$"Gateway:Upstreams:{i}:Name"] = $"llama-{i}";
            settings[$"Gateway:Upstreams:{i}:BaseUrl"] = upstreams[i];
            settings[$"Gateway:Upstreams:{i}:Dialect"] = "openai";
            settings[$"Gateway:Upstreams:{i}:Slots"] = slots.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        var logs = new GatewayLogCapture();
        var app = GatewayApplication.Create(["--urls", "http://127.0.0.1:0"], builder => builder.Configuration.AddInMemoryCollection(settings), useConfigFile: false);
        app.Services.GetRequiredService<ILoggerFactory>().AddProvider(logs);
        var decisions = new ConcurrentDictionary<int, GatewayDecision>();

        // Runs before the endpoint (routing and endpoints sit at the pipeline's ends); reads the pipeline's own
        // per-request context afterwards, so the report can say why each request went where it went.
        app.Use(async (http, next) =>
        {
            await next(http);
            if (http.Request.Headers.TryGetValue(Replayer.RequestIdHeader, out var id) && int.TryParse(id, out var requestId)
                && http.Features.Get<LlamaGateway.Pipeline.GatewayRequestContext>() is { } context)
            {
                decisions[requestId] = new GatewayDecision(context.Kind.ToString(), context.Lease?.Reason ?? "-", context.Lease?.Slot, context.Conversation?.Id,
                    context.QueueTime.TotalSeconds, context.SlotActionTime.TotalSeconds, context.WaitReasons,
                    context.Lease?.Preemption?.Pauses ?? 0, context.Lease?.Preemption?.PausedTime.TotalSeconds ?? 0,
                    context.ChunkedPrefill?.Chunks ?? 0, context.ChunkedPrefill?.ComputedTokens ?? 0, context.ChunkedPrefill?.Yielded.TotalSeconds ?? 0);
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new InProcessGateway(app, address, logs) { _decisions = decisions };
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// The gateway's routing decision for one request: request kind, reason, pinned slot, conversation, and how long the
/// request waited in the gateway's slot queue and for the slot's save/restore before it was forwarded, and how often
/// and how long it was paused for shorter prompts (a long prefill, Routing/PrefillPreemption), or, prefilled in chunks
/// (PrefillChunking), how many chunks, the tokens llama-server computed for them and how long it gave way to shorter prompts.
/// </summary>
internal sealed record GatewayDecision(string Kind, string Reason, int? Slot, string? Conversation, double QueueSeconds, double SlotActionSeconds, string? WaitReasons,
    int Pauses = 0, double PausedSeconds = 0, int Chunks = 0, int ChunkedTokens = 0, double YieldedSeconds = 0);

/// <summary>Keeps the structured fields of the gateway's request log events (EventId 1 completed, 2 failed).</summary>
internal sealed class GatewayLogCapture : ILoggerProvider
{
    public ConcurrentQueue<IReadOnlyDictionary<string, object?>> Completed { get; } = new();

    public ConcurrentQueue<string> Failures { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(GatewayLogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => category.EndsWith("ModelRequestHandler", StringComparison.Ordinal);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            if (eventId.Id == 1 && state is IReadOnlyList<KeyValuePair<string, object?>> fields)
            {
                owner.Completed.Enqueue(fields.ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal));
            }
            else if (eventId.Id == 2)
            {
                owner.Failures.Enqueue(formatter(state, exception));
            }
        }
    }
}
