using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace LlamaGateway.Bench.Cache;

/// <summary>
/// The well-known workaround, rebuilt here: a single-threaded pass-through proxy (like cache-proxy.py on Python's
/// one-request-at-a-time HTTPServer) that regex-replaces the billing line's value with a fixed string in the raw
/// body and forwards everything to llama-server's own endpoints (<c>/v1/messages</c>). One request at a time, start
/// to end of its response stream: the next request waits, whoever sent it.
/// </summary>
internal sealed partial class NaiveProxy : IAsyncDisposable
{
    private readonly WebApplication _app;

    private NaiveProxy(WebApplication app, string baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
    }

    public string BaseUrl { get; }

    public static async Task<NaiveProxy> StartAsync(string upstream)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        var app = builder.Build();
        var gate = new SemaphoreSlim(1, 1);
        // Idle connections dropped before llama-server's 5 s keep-alive timeout closes them under a new request.
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, AutomaticDecompression = DecompressionMethods.None, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        var upstreamBase = upstream.TrimEnd('/');
        app.Run(async http =>
        {
            await gate.WaitAsync(http.RequestAborted);
            try
            {
                using var buffer = new MemoryStream();
                await http.Request.Body.CopyToAsync(buffer, http.RequestAborted);
                var body = buffer.ToArray();
                if (http.Request.Method == "POST")
                {
                    var text = System.Text.Encoding.UTF8.GetString(body);
                    body = System.Text.Encoding.UTF8.GetBytes(BillingValue().Replace(text, "${name}cc_version=0.0.0.000; cc_entrypoint=cli;"));
                }

                using var request = new HttpRequestMessage(new HttpMethod(http.Request.Method), upstreamBase + http.Request.Path + http.Request.QueryString);
                if (body.Length > 0)
                {
                    request.Content = new ByteArrayContent(body);
                    request.Content.Headers.TryAddWithoutValidation("Content-Type", http.Request.ContentType ?? "application/json");
                }

                HttpResponseMessage response;
                try
                {
                    response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, http.RequestAborted);
                }
                catch (HttpRequestException ex)
                {
                    // What cache-proxy.py does too: the error goes back to the client as a 502.
                    http.Response.StatusCode = StatusCodes.Status502BadGateway;
                    await http.Response.WriteAsync("{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"proxy: " + ex.GetBaseException().Message.Replace("\"", "'", StringComparison.Ordinal) + "\"}}");
                    return;
                }

                using (response)
                {
                    http.Response.StatusCode = (int)response.StatusCode;
                    if (response.Content.Headers.ContentType is { } type)
                    {
                        http.Response.ContentType = type.ToString();
                    }

                    await using var stream = await response.Content.ReadAsStreamAsync(http.RequestAborted);
                    var chunk = new byte[16 * 1024];
                    int read;
                    while ((read = await stream.ReadAsync(chunk, http.RequestAborted)) > 0)
                    {
                        await http.Response.Body.WriteAsync(chunk.AsMemory(0, read), http.RequestAborted);
                        await http.Response.Body.FlushAsync(http.RequestAborted);
                    }
                }
            }
            finally
            {
                gate.Release();
            }
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new NaiveProxy(app, address);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    // The whole value after the header name, up to the end of the JSON string.
    [GeneratedRegex(@"(?<name>x-anthropic-billing-header: ?)[^""\\]*")]
    private static partial Regex BillingValue();
}
