using System.Diagnostics;
using Yarp.ReverseProxy.Forwarder;
using System.Net;
using LlamaGateway.Hosting;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Forwarding;

/// <summary>The one HTTP client all forwarded requests share (pooled connections to every upstream).</summary>
internal sealed class UpstreamHttpClient : IDisposable
{
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
        Invoker = new HttpMessageInvoker(CreateHandler(options.Value, pooled: true), disposeHandler: true);
        FreshConnectionInvoker = new HttpMessageInvoker(CreateHandler(options.Value, pooled: false), disposeHandler: true);
    }

    /// <summary>Pooled keep-alive connections: what every request uses first.</summary>
    public HttpMessageInvoker Invoker { get; }

    /// <summary>
    /// A new connection per request, closed after it: for the retry after an upstream closed a pooled connection
    /// without answering. llama-server closes its connection after every streamed response without announcing it,
    /// so a pooled connection can be dead before the pool notices; the retry must not draw another such one.
    /// </summary>
    public HttpMessageInvoker FreshConnectionInvoker { get; }

    private static SocketsHttpHandler CreateHandler(GatewayOptions options, bool pooled) => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        EnableMultipleHttp2Connections = true,
        ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
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
        Invoker.Dispose();
        FreshConnectionInvoker.Dispose();
    }
}
