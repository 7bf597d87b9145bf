using System.Collections.Concurrent;
using System.Diagnostics;
using Yarp.ReverseProxy.Forwarder;
using System.Net;
using LlamaGateway.Hosting;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Forwarding;

/// <summary>The HTTP clients forwarded requests use: pooled connections, a pool per upstream instance.</summary>
internal sealed class UpstreamHttpClient : IDisposable
{
    /// <summary>
    /// Connections the forwarder may hold to one instance beyond its slot count. llama-server (cpp-httplib) serves each
    /// connection on one of a fixed set of HTTP threads (slots + 4 by default) for as long as the connection stays
    /// open, and only adds threads when none is idle as a connection arrives, which a burst outruns: measured on this
    /// llama-server, a burst of 20 <c>count_tokens</c> on new keep-alive connections was answered 7 at a time, 3 s
    /// apart (as pooled connections were dropped), and everything else sent meanwhile waited too, a new conversation's
    /// first turn included. Claude Code sends such a burst (20-40) at every session start. With at most slots + 2
    /// connections the streams of every slot still each have one, and the rest reuse the other two (one count_tokens
    /// takes milliseconds): the same burst was answered within 0.11 s.
    /// </summary>
    public const int ConnectionsBeyondSlots = 2;

    /// <summary>
    /// The named HttpClient of the gateway's own calls to upstreams (health probes, slot save/restore, prefill chunks),
    /// one pool for all of them, so that with the forwarder's an instance sees slots + 4 connections at most: as many
    /// as llama-server has fixed HTTP threads.
    /// </summary>
    public const string CallClientName = "upstream-calls";

    /// <summary>Connections the gateway's own calls may hold to one instance (see <see cref="ConnectionsBeyondSlots"/>).</summary>
    public const int CallClientConnections = 2;

    private readonly GatewayOptions _options;
    private readonly ConcurrentDictionary<(string Prefix, int Slots), HttpMessageInvoker> _pooled = new();

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

    public UpstreamHttpClient(IOptions<GatewayOptions> options)
    {
        _options = options.Value;
        FreshConnectionInvoker = new HttpMessageInvoker(CreateHandler(_options, pooled: false, int.MaxValue), disposeHandler: true);
    }

    /// <summary>
    /// Pooled keep-alive connections to <paramref name="instance"/>, at most its slot count + <see cref="ConnectionsBeyondSlots"/>:
    /// what every request uses first. A pool is made for the slot count the instance has when first asked (a
    /// discovered count gets a new pool; the old one's connections close once idle).
    /// </summary>
    public HttpMessageInvoker InvokerFor(UpstreamInstance instance) =>
        _pooled.GetOrAdd((instance.DestinationPrefix, instance.SlotCount), static (key, options) =>
            new HttpMessageInvoker(CreateHandler(options, pooled: true, key.Slots + ConnectionsBeyondSlots), disposeHandler: true), _options);

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
        foreach (var invoker in _pooled.Values)
        {
            invoker.Dispose();
        }

        FreshConnectionInvoker.Dispose();
    }
}
