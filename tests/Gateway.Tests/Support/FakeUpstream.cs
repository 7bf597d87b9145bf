using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlamaGateway.Tests.Support;

/// <summary>A request the fake upstream received: what the gateway actually sent.</summary>
internal sealed record RecordedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);
}

/// <summary>
/// A scriptable llama-server stand-in on real Kestrel (loopback, port 0) for fault injection: it answers /health and
/// /props like llama-server and hands every other request to the test's handler.
/// </summary>
internal sealed class FakeUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeUpstream(WebApplication app) => _app = app;

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public string BaseUrl { get; private set; } = string.Empty;

    public int TotalSlots { get; set; } = 4;

    /// <summary>Handles model requests; the body has already been read into <see cref="Requests"/>.</summary>
    public Func<HttpContext, RecordedRequest, Task> Handler { get; set; } = static (http, _) =>
    {
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync("{}");
    };

    public static async Task<FakeUpstream> StartAsync(Func<HttpContext, RecordedRequest, Task>? handler = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var fake = new FakeUpstream(app);
        if (handler is not null)
        {
            fake.Handler = handler;
        }

        app.MapGet("/health", () => Results.Json(new { status = "ok" }));
        app.MapGet("/props", () => Results.Json(new { total_slots = fake.TotalSlots, model_path = "/models/fake.gguf" }));
        app.MapFallback(async http =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body, http.RequestAborted);
            var headers = http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            var recorded = new RecordedRequest(http.Request.Method, http.Request.Path + http.Request.QueryString, headers, body.ToArray());
            fake.Requests.Enqueue(recorded);
            await fake.Handler(http, recorded);
        });
        await app.StartAsync();
        fake.BaseUrl = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return fake;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Writes one SSE event and flushes it, as llama-server does per token.</summary>
    public static async Task WriteEventAsync(HttpContext http, string? eventName, string data)
    {
        var text = eventName is null ? $"data: {data}\n\n" : $"event: {eventName}\ndata: {data}\n\n";
        await http.Response.WriteAsync(text, http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    public static async Task StartStreamAsync(HttpContext http)
    {
        http.Response.ContentType = "text/event-stream";
        await http.Response.StartAsync(http.RequestAborted);
    }
}
