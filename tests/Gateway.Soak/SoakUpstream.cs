using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LlamaGateway.Soak;

/// <summary>
/// A llama-server stand-in streaming chat completions at a steady pace, that can be killed (every connection
/// aborted, the port closed) and restarted on the same port. Loopback only.
/// </summary>
internal sealed class SoakUpstream : IAsyncDisposable
{
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private WebApplication? _app;
    private long _streams;

    public SoakUpstream(int chunks, TimeSpan chunkInterval)
    {
        Chunks = chunks;
        ChunkInterval = chunkInterval;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public int Port { get; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public int Chunks { get; }

    public TimeSpan ChunkInterval { get; }

    /// <summary>Streams started (across restarts).</summary>
    public long Streams => Interlocked.Read(ref _streams);

    public async Task StartAsync()
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
            var app = builder.Build();
            app.MapGet("/health", () => Results.Json(new { status = "ok" }));
            app.MapGet("/props", () => Results.Json(new { total_slots = 64, model_path = "/models/soak.gguf" }));
            app.MapPost("/v1/chat/completions", StreamAsync);
            await app.StartAsync();
            _app = app;
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Aborts every connection and closes the port, like a crashed server.</summary>
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

    private async Task StreamAsync(HttpContext http)
    {
        Interlocked.Increment(ref _streams);
        using (var reader = new StreamReader(http.Request.Body))
        {
            await reader.ReadToEndAsync(http.RequestAborted);
        }

        http.Response.ContentType = "text/event-stream";
        await http.Response.StartAsync(http.RequestAborted);
        try
        {
            await WriteAsync(http, """{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}""");
            for (var i = 0; i < Chunks; i++)
            {
                await Task.Delay(ChunkInterval, http.RequestAborted);
                await WriteAsync(http, $$$"""{"choices":[{"index":0,"delta":{"content":"token{{{i}}} "}}]}""");
            }

            await WriteAsync(http, """{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""");
            await WriteAsync(http, $$$"""{"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":{{{Chunks}}},"total_tokens":{{{20 + Chunks}}}},"timings":{"cache_n":10,"prompt_n":10,"prompt_ms":5.0}}""");
            await WriteAsync(http, "[DONE]");
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task WriteAsync(HttpContext http, string data)
    {
        await http.Response.WriteAsync($"data: {data}\n\n", http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }
}
