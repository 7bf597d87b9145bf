using System.Text.Json;
using LlamaGateway.Hosting;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// The real gateway reading a real appsettings.json in its own temporary directory, watched by the real file
/// watcher, so tests can edit the file while it runs.
/// </summary>
internal sealed class ConfigFileGateway : IAsyncDisposable
{
    private ConfigFileGateway(WebApplication app, string directory, string path, TestLogSink logs, string baseUrl)
    {
        App = app;
        Directory = directory;
        Path = path;
        Logs = logs;
        Client = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication App { get; }

    public string Directory { get; }

    public string Path { get; }

    public TestLogSink Logs { get; }

    public HttpClient Client { get; }

    public T Service<T>() where T : notnull => App.Services.GetRequiredService<T>();

    /// <summary>A configuration file's text with the given upstreams and any other Gateway settings.</summary>
    public static string Json(IEnumerable<(string Name, string BaseUrl)> upstreams, object? extra = null)
    {
        var gateway = new Dictionary<string, object?>
        {
            ["Upstreams"] = upstreams.Select(u => new { u.Name, u.BaseUrl, Slots = 2 }).ToArray(),
        };
        if (extra is not null)
        {
            foreach (var property in JsonSerializer.SerializeToElement(extra).EnumerateObject())
            {
                gateway[property.Name] = property.Value;
            }
        }

        return JsonSerializer.Serialize(new { Gateway = gateway }, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <param name="json">The file's text.</param>
    /// <param name="args">More command-line configuration (e.g. upstreams given there rather than in the file).</param>
    public static async Task<ConfigFileGateway> StartAsync(string json, params string[] args)
    {
        var directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "gateway-config-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var path = System.IO.Path.Combine(directory, "appsettings.json");
        await File.WriteAllTextAsync(path, json);
        var logs = new TestLogSink();
        WebApplication? app = null;
        try
        {
            app = GatewayApplication.Create(["--urls", "http://127.0.0.1:0", .. args], configPath: path);
            app.Services.GetRequiredService<ILoggerFactory>().AddProvider(logs);
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
            return new ConfigFileGateway(app, directory, path, logs, address);
        }
        catch
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }

            System.IO.Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    /// <summary>Overwrites the file in place, as an editor saving it would.</summary>
    public Task WriteAsync(string text) => File.WriteAllTextAsync(Path, text);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
