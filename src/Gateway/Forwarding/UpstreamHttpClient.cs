using System.Diagnostics;
using Yarp.ReverseProxy.Forwarder;
using System.Net;
using LlamaGateway.Hosting;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Forwarding;

/// <summary>The one HTTP client all forwarded requests share (pooled connections to every upstream).</summary>
internal sealed class UpstreamHttpClient : IDisposable
{
    public UpstreamHttpClient(IOptions<GatewayOptions> options)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
            ConnectTimeout = TimeSpan.FromSeconds(options.Value.Timeouts.ConnectSeconds),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),

            // When a client disconnects mid-stream we drop the upstream response; draining it instead would keep
            // llama-server generating (and the slot busy) for up to the drain timeout.
            MaxResponseDrainSize = 0,
            ResponseDrainTimeout = TimeSpan.Zero,
        };
        Invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    public HttpMessageInvoker Invoker { get; }

    public void Dispose() => Invoker.Dispose();
}
