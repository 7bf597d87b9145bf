using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// A llama-server stand-in that can be killed (every connection aborted, the port closed: connection refused) and
/// restarted on the same port, with scriptable /health, /props and model responses. Loopback only.
/// </summary>
internal sealed class KillableUpstream : IAsyncDisposable
{
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private WebApplication? _app;

    private KillableUpstream(int port)
    {
        Port = port;
    }

    public int Port { get; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public bool IsRunning => _app is not null;

    /// <summary>Model requests received (path and body), in arrival order.</summary>
    public ConcurrentQueue<(string Path, string Body)> Requests { get; } = new();

    public int HealthChecks => Volatile.Read(ref _healthChecks);

    private int _healthChecks;

    /// <summary>Status /health answers with (llama-server says 503 while it loads a model).</summary>
    public int HealthStatus { get; set; } = 200;

    /// <summary>The body of <c>GET /props</c>.</summary>
    public string PropsBody { get; set; } = """{"total_slots":4,"model_path":"/models/fake.gguf"}""";

    /// <summary>Handles model requests (the body is already read).</summary>
    public Func<HttpContext, string, Task> Handler { get; set; } = static (http, _) => http.Response.WriteAsync("{}");

    public static async Task<KillableUpstream> StartAsync(Func<HttpContext, string, Task>? handler = null)
    {
        var upstream = new KillableUpstream(FreePort());
        if (handler is not null)
        {
            upstream.Handler = handler;
        }

        await upstream.RestartAsync();
        return upstream;
    }

    /// <summary>Starts (again) on the same port.</summary>
    public async Task RestartAsync()
    {
        await _lifecycle.WaitAsync();
        try
        {
            if (_app is not null)
            {
                return;
            }

            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls(BaseUrl);
            builder.WebHost.UseKestrel(k => k.Limits.MaxRequestBodySize = null);
            var app = builder.Build();
            app.MapGet("/health", http =>
            {
                Interlocked.Increment(ref _healthChecks);
                http.Response.StatusCode = HealthStatus;
                return http.Response.WriteAsync(HealthStatus == 200 ? """{"status":"ok"}""" : """{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}""");
            });
            app.MapGet("/props", http =>
            {
                http.Response.ContentType = "application/json";
                return http.Response.WriteAsync(PropsBody);
            });
            app.MapFallback(async http =>
            {
                using var reader = new StreamReader(http.Request.Body);
                var body = await reader.ReadToEndAsync(http.RequestAborted);
                Requests.Enqueue((http.Request.Path.Value ?? string.Empty, body));
                await Handler(http, body);
            });

            // Kestrel sets SO_REUSEADDR on Linux, so the port can be bound again right after a kill.
            await app.StartAsync();
            _app = app;
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Aborts every connection mid-whatever and closes the port, like a crashed server.</summary>
    public async Task KillAsync()
    {
        await _lifecycle.WaitAsync();
        try
        {
            if (_app is null)
            {
                return;
            }

            var app = _app;
            _app = null;
            using var now = new CancellationTokenSource();
            now.Cancel();
            try
            {
                await app.StopAsync(now.Token);
            }
            catch (OperationCanceledException)
            {
            }

            await app.DisposeAsync();
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _lifecycle.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
