using System.Collections.Concurrent;
using System.Diagnostics;
using Yarp.ReverseProxy.Forwarder;
using System.Net;
using LlamaGateway.Hosting;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Forwarding;

/// <summary>
/// The HTTP clients forwarded requests use: pooled connections, two pools per upstream instance (generation and
/// short requests), each with as many places as connections, so the gateway knows when a request waits for one.
/// </summary>
internal sealed class UpstreamHttpClient : IDisposable
{
    /// <summary>
    /// Connections count_tokens and /v1/models may hold to one instance, apart from generation's one per slot.
    /// llama-server (cpp-httplib) serves each connection on one of a fixed set of HTTP threads (slots + 4 by default)
    /// for as long as the connection stays open, and only adds threads when none is idle as a connection arrives,
    /// which a burst outruns: measured on this llama-server, a burst of 20 <c>count_tokens</c> on new keep-alive
    /// connections was answered 7 at a time, 3 s apart, and everything else sent meanwhile waited too. Sharing one
    /// pool with generation was not enough either: 30 slow count_tokens of one user took every connection and held
    /// another user's chat completion 29-39 s. With a pool of their own, a flood of them waits for these two (one
    /// count_tokens takes milliseconds) and a slot's stream always has its own connection.
    /// </summary>
    public const int ShortRequestConnections = 2;

    /// <summary>
    /// The named HttpClient of the gateway's own calls to upstreams (health probes, slot save/restore, prefill chunks),
    /// one pool for all of them, so that with the forwarder's an instance sees slots + 4 connections at most: as many
    /// as llama-server has fixed HTTP threads.
    /// </summary>
    public const string CallClientName = "upstream-calls";

    /// <summary>Connections the gateway's own calls may hold to one instance (see <see cref="ShortRequestConnections"/>).</summary>
    public const int CallClientConnections = 2;

    private readonly GatewayOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string Prefix, ConnectionPool Pool), Pooled> _pooled = new();

    /// <summary>
    /// How long a connection to an upstream may sit idle in a pool before it is dropped; every client the gateway
    /// uses towards llama-server takes this. llama-server (cpp-httplib) closes a keep-alive connection after 5 s idle
    /// (it says so in <c>Keep-Alive: timeout=5</c>, which .NET ignores on HTTP/1.1 responses). A pooled connection reused
    /// just as llama-server closes it fails the request with "The response ended prematurely", and a forwarded request
    /// cannot be retried (llama-server may have started it). Seen with 6 concurrent Claude Code users, where a request
    /// often waits ~5 s for its slot. Staying well under 5 s (the pool's scavenger adds up to 1 s) avoids the race; a new
    /// connection costs far less than any model request.
    /// </summary>
    public static readonly TimeSpan PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2);

    public UpstreamHttpClient(IOptions<GatewayOptions> options, TimeProvider time)
    {
        _options = options.Value;
        _time = time;
        FreshConnectionInvoker = new HttpMessageInvoker(CreateHandler(_options, pooled: false, int.MaxValue), disposeHandler: true);
    }

    /// <summary>
    /// Waits for a place in <paramref name="instance"/>'s <paramref name="pool"/> of pooled keep-alive connections:
    /// one per slot for generation (the router runs at most one request per slot, so it never waits in practice),
    /// <see cref="ShortRequestConnections"/> for short requests. The place is held for one upstream call, and the wait
    /// for it is the request's connection wait, measured truthfully: a connection is back in its pool (or closed) by
    /// the time the call that used it has returned, so the pool's client, which opens a connection only when no idle
    /// one is left, never holds more connections than there are places, and nothing queues unseen inside it.
    /// </summary>
    public async ValueTask<UpstreamConnection> AcquireAsync(UpstreamInstance instance, ConnectionPool pool, CancellationToken cancellationToken)
    {
        var pooled = _pooled.GetOrAdd((instance.DestinationPrefix, pool), static (key, options) =>
            new Pooled(new HttpMessageInvoker(CreateHandler(options, pooled: true, key.Pool == ConnectionPool.Short ? ShortRequestConnections : int.MaxValue), disposeHandler: true), new ConnectionPlaces()), _options);
        Func<int> limit = pool == ConnectionPool.Short ? static () => ShortRequestConnections : () => Math.Max(1, instance.SlotCount);
        if (pooled.Places.TryEnter(limit()))
        {
            return new UpstreamConnection(pooled.Invoker, pooled.Places, limit, waited: null);
        }

        var started = _time.GetTimestamp();
        await pooled.Places.EnterAsync(limit(), cancellationToken);
        return new UpstreamConnection(pooled.Invoker, pooled.Places, limit, _time.GetElapsedTime(started));
    }

    /// <summary>
    /// A new connection per request, closed after it: for the retry after an upstream closed a pooled connection
    /// without answering. llama-server closes its connection after every streamed response without announcing it,
    /// so a pooled connection can be dead before the pool notices; the retry must not draw another such one.
    /// </summary>
    public HttpMessageInvoker FreshConnectionInvoker { get; }

    private static SocketsHttpHandler CreateHandler(GatewayOptions options, bool pooled, int maxConnections) => new()
    {
        MaxConnectionsPerServer = maxConnections,
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        EnableMultipleHttp2Connections = true,
        ActivityHeadersPropagator = new ReverseProxyPropagator(new TraceContextPropagator(DistributedContextPropagator.Current)),
        ConnectTimeout = TimeSpan.FromSeconds(options.Timeouts.ConnectSeconds),
        PooledConnectionIdleTimeout = PooledConnectionIdleTimeout,

        // Zero: a connection is never handed to a second request.
        PooledConnectionLifetime = pooled ? Timeout.InfiniteTimeSpan : TimeSpan.Zero,

        // When a client disconnects mid-stream we drop the upstream response; draining it instead would keep
        // llama-server generating (and the slot busy) for up to the drain timeout.
        MaxResponseDrainSize = 0,
        ResponseDrainTimeout = TimeSpan.Zero,
    };

    public void Dispose()
    {
        foreach (var pooled in _pooled.Values)
        {
            pooled.Invoker.Dispose();
        }

        FreshConnectionInvoker.Dispose();
    }

    private sealed record Pooled(HttpMessageInvoker Invoker, ConnectionPlaces Places);
}
