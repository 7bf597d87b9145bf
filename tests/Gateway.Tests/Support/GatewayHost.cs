using LlamaGateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlamaGateway.Tests.Support;

/// <summary>The real gateway application on real Kestrel, loopback port 0, with configuration given in code.</summary>
internal sealed class GatewayHost : IAsyncDisposable
{
    private GatewayHost(WebApplication app, string baseUrl, TestLogSink logs)
    {
        App = app;
        BaseUrl = baseUrl;
        Logs = logs;
        Client = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication App { get; }

    public string BaseUrl { get; }

    public HttpClient Client { get; }

    /// <summary>Every log line the gateway wrote, rendered, for asserting what is (and is not) logged.</summary>
    public TestLogSink Logs { get; }

    public T Service<T>() where T : notnull => App.Services.GetRequiredService<T>();

    /// <summary>Starts a gateway whose only upstream is <paramref name="upstreamBaseUrl"/>.</summary>
    public static Task<GatewayHost> StartAsync(string upstreamBaseUrl, IDictionary<string, string?>? settings = null, string dialect = "openai")
    {
        var all = new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:Name"] = "fake",
            ["Gateway:Upstreams:0:BaseUrl"] = upstreamBaseUrl,
            ["Gateway:Upstreams:0:Dialect"] = dialect,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        return StartAsync(all);
    }

    public static async Task<GatewayHost> StartAsync(IDictionary<string, string?> settings)
    {
        var logs = new TestLogSink();
        var app = GatewayApplication.Create(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }, useConfigFile: false);
        app.Services.GetRequiredService<ILoggerFactory>().AddProvider(logs);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new GatewayHost(app, address, logs);
    }

    /// <summary>
    /// Waits until the start-up probe has read every instance's <c>/props</c> (a <see cref="FakeUpstream"/> names its
    /// model there), so a later probe result cannot reset what a test's requests do to an instance's health.
    /// </summary>
    public async Task WaitForStartupProbeAsync()
    {
        var registry = Service<LlamaGateway.Upstreams.UpstreamRegistry>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!registry.Instances.All(i => i.ModelName is not null && i.IsHealthy))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Timed out waiting for the start-up probe");
            }

            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
