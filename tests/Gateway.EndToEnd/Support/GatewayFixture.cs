using System.Globalization;
using LlamaGateway.Hosting;
using LlamaGateway.Upstreams;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>
/// The real gateway, in-process on real Kestrel (loopback, port 0), in front of one or more real llama-servers, with
/// configuration given in code. Its log is kept (see <see cref="Logs"/>) and written to gateway.log.
/// </summary>
internal sealed class GatewayFixture : IAsyncDisposable
{
    private GatewayFixture(WebApplication app, string baseUrl, GatewayLogSink logs, string logPath)
    {
        App = app;
        BaseUrl = baseUrl;
        Logs = logs;
        LogPath = logPath;
    }

    public WebApplication App { get; }

    public string BaseUrl { get; }

    public GatewayLogSink Logs { get; }

    public string LogPath { get; }

    /// <summary>What the gateway logged per request (upstream, id_slot, reason, tokens), in completion order.</summary>
    public IReadOnlyList<GatewayRequestLog> Requests => Logs.Requests;

    /// <summary>
    /// The gateway logs a request after its response has gone out, so a client can read the whole answer a moment
    /// before the line exists: waits (bounded) until <paramref name="count"/> requests to <paramref name="route"/>
    /// are logged and returns them, in completion order.
    /// </summary>
    public async Task<IReadOnlyList<GatewayRequestLog>> WaitForRequestsAsync(string route, int count, TimeSpan? timeout = null)
    {
        await Poll.UntilAsync($"the gateway to log {count} {route} requests", timeout ?? TimeSpan.FromSeconds(10), () =>
        {
            var logged = Requests.Count(r => r.Route == route);
            return Task.FromResult((logged >= count, $"{logged} logged: {string.Join(" | ", Requests)}"));
        });
        return Requests.Where(r => r.Route == route).ToList();
    }

    /// <summary>
    /// Starts the gateway with upstream i = <paramref name="upstreams"/>[i] (named llama-i, its slot count configured)
    /// and then <paramref name="overrides"/> (any Gateway:* key; they win). Returns once every upstream has been
    /// probed healthy.
    /// </summary>
    public static async Task<GatewayFixture> StartAsync(IReadOnlyList<LlamaServerFixture> upstreams, string artifactsDirectory,
        IReadOnlyDictionary<string, string?>? overrides = null)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            // The console stays quiet; the sink below still receives Information and up.
            ["Serilog:MinimumLevel:Default"] = "Warning",
        };
        for (var i = 0; i < upstreams.Count; i++)
        {
            var key = "Gateway:Upstreams:" + i.ToString(CultureInfo.InvariantCulture);
            settings[key + ":Name"] = "llama-" + i.ToString(CultureInfo.InvariantCulture);
            settings[key + ":BaseUrl"] = upstreams[i].BaseUrl;
            settings[key + ":Slots"] = upstreams[i].Slots.ToString(CultureInfo.InvariantCulture);
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        Directory.CreateDirectory(artifactsDirectory);
        var logPath = Path.Combine(artifactsDirectory, "gateway.log");
        var logs = new GatewayLogSink(logPath);
        var app = GatewayApplication.Create(["--urls", "http://127.0.0.1:0"], builder => builder.Configuration.AddInMemoryCollection(settings), useConfigFile: false);
        app.Services.GetRequiredService<ILoggerFactory>().AddProvider(logs);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        var gateway = new GatewayFixture(app, address, logs, logPath);
        try
        {
            await gateway.WaitUpstreamsHealthyAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }

        return gateway;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Logs.Dispose();
    }

    private async Task WaitUpstreamsHealthyAsync(TimeSpan timeout)
    {
        var monitor = App.Services.GetRequiredService<UpstreamMonitor>();
        var registry = App.Services.GetRequiredService<UpstreamRegistry>();
        await Poll.UntilAsync("the gateway to see every upstream healthy", timeout, async () =>
        {
            await monitor.ProbeAllAsync(CancellationToken.None);
            var instances = registry.Instances;
            return (instances.Count > 0 && instances.All(i => i.IsHealthy),
                string.Join("; ", instances.Select(i => $"{i.Name}: {(i.IsHealthy ? "healthy" : i.LastError)}")));
        });
    }
}
