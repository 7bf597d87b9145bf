using System.Diagnostics;
using System.Net;
using LlamaGateway.Hosting;
using Yarp.ReverseProxy.Forwarder;

namespace LlamaGateway.Bench.Overhead;

/// <summary>
/// The floor for a .NET proxy: YARP's <see cref="IHttpForwarder"/> forwarding every request to one destination with
/// the default transformer, an HTTP client set up as YARP's direct-forwarding sample does, and no logging. With
/// <c>largeReadBlocks</c> Kestrel reads into the gateway's 32 KiB blocks instead of its 4 KiB default (a diagnostic:
/// what the same tuning is worth to the floor).
/// </summary>
internal static class YarpPassThrough
{
    public static WebApplication Build(string upstream, bool largeReadBlocks = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        builder.Services.AddHttpForwarder();
        if (largeReadBlocks)
        {
            builder.Services.AddLargeKestrelReadBlocks();
        }
        var app = builder.Build();
        var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
            ConnectTimeout = TimeSpan.FromSeconds(15),
        });
        var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
        var config = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(600), AllowResponseBuffering = false };
        var destination = upstream.TrimEnd('/');
        app.Map("/{**catch-all}", async http =>
        {
            await forwarder.SendAsync(http, destination, invoker, config, HttpTransformer.Default);
        });
        return app;
    }
}
