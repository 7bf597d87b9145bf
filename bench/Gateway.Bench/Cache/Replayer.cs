using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace LlamaGateway.Bench.Cache;

/// <summary>What happened to one planned request in one variant; times in seconds on the run's clock.</summary>
internal sealed class RequestResult
{
    public required PlannedRequest Request { get; init; }
    public double Sent { get; set; }
    public double FirstToken { get; set; } = double.NaN;
    public double Ended { get; set; } = double.NaN;
    public int Status { get; set; }
    public string? Error { get; set; }

    /// <summary>Usage as the response reported it (Anthropic fields): re-computed and cache-read prompt tokens.</summary>
    public int InputTokens { get; set; } = -1;
    public int CacheReadTokens { get; set; } = -1;
    public int OutputTokens { get; set; } = -1;

    /// <summary>The llama-server task that served it (matched from the server's log), if found.</summary>
    public ServerTask? Task { get; set; }

    /// <summary>The gateway's routing decision for it (gateway variant only).</summary>
    public GatewayDecision? Decision { get; set; }

    /// <summary>Seconds of its queue wait during which another user's request was being processed (NaN if unmatched).</summary>
    public double BehindOthers { get; set; } = double.NaN;

    public bool Ok => Status == 200 && Error is null;

    public double Ttft => FirstToken - Sent;

    public int PromptTokens => InputTokens < 0 ? -1 : InputTokens + Math.Max(0, CacheReadTokens);
}

/// <summary>
/// Replays the user scripts against one target: every user runs concurrently (or, <paramref name="solo"/>, one after
/// another from its first step, start offset dropped), each in order with its think times.
/// Time to first token is measured at the client: the first event that carries model output (a content block or the
/// final message delta; message_start and pings do not count) or, for JSON responses, the complete body.
/// </summary>
internal sealed class Replayer(Stopwatch clock, Func<int, string> baseUrlForUser, Action<RequestResult> onDone, bool solo = false)
{
    /// <summary>Carries the planned request's id, so the in-process gateway's decision can be joined to the result.</summary>
    public const string RequestIdHeader = "X-Bench-Request";

    private static readonly TimeSpan RequestTimeout = TimeSpan.FromMinutes(30);

    public async Task<List<RequestResult>> RunAsync(IReadOnlyList<UserScript> scripts, CancellationToken cancellationToken)
    {
        using var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            // llama-server (cpp-httplib) closes keep-alive connections idle for 5 s; reusing one just as it closes
            // fails a POST with "response ended prematurely". Idle connections are dropped well before that.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2),
            MaxConnectionsPerServer = int.MaxValue,
        };
        using var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        var results = new List<RequestResult>();
        var gate = new object();
        void Record(RequestResult r)
        {
            lock (gate)
            {
                results.Add(r);
            }

            onDone(r);
        }

        if (solo)
        {
            foreach (var script in scripts)
            {
                await RunUserAsync(client, script with { StartOffset = TimeSpan.Zero }, Record, cancellationToken);
            }

            return results;
        }

        await Task.WhenAll(scripts.Select(script => RunUserAsync(client, script, Record, cancellationToken)));
        return results;
    }

    private async Task RunUserAsync(HttpClient client, UserScript script, Action<RequestResult> record, CancellationToken cancellationToken)
    {
        var baseUrl = baseUrlForUser(script.User);
        await Task.Delay(script.StartOffset, cancellationToken);
        var bursts = new List<Task>();
        foreach (var step in script.Steps)
        {
            switch (step)
            {
                case SendStep send:
                    var all = send.Alongside.Select(r => SendAsync(client, baseUrl, r, record, cancellationToken)).Prepend(SendAsync(client, baseUrl, send.Request, record, cancellationToken)).ToList();
                    await Task.WhenAll(all);
                    break;
                case BurstStep burst:
                    bursts.Add(Task.WhenAll(burst.Requests.Select(r => SendAsync(client, baseUrl, r, record, cancellationToken))));
                    break;
                case JoinBurstsStep:
                    await Task.WhenAll(bursts);
                    bursts.Clear();
                    break;
                case ThinkStep think:
                    // Simulated user think time / tool run time: part of the workload, not synchronization.
                    await Task.Delay(think.Duration, cancellationToken);
                    break;
            }
        }

        await Task.WhenAll(bursts);
    }

    private async Task SendAsync(HttpClient client, string baseUrl, PlannedRequest planned, Action<RequestResult> record, CancellationToken cancellationToken)
    {
        var result = new RequestResult { Request = planned };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, baseUrl + planned.Path)
            {
                Content = new ByteArrayContent(planned.Body),
            };
            message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            message.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
            message.Headers.TryAddWithoutValidation("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27");
            message.Headers.TryAddWithoutValidation("x-api-key", "bench-key");
            message.Headers.TryAddWithoutValidation("x-app", "cli");
            message.Headers.TryAddWithoutValidation("User-Agent", planned.UserAgent);
            message.Headers.TryAddWithoutValidation("X-Claude-Code-Session-Id", planned.SessionId);
            message.Headers.TryAddWithoutValidation(RequestIdHeader, planned.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            message.Headers.Accept.ParseAdd(planned.Stream ? "text/event-stream" : "application/json");

            result.Sent = clock.Elapsed.TotalSeconds;
            using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            result.Status = (int)response.StatusCode;
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            if (string.Equals(mediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase))
            {
                await ReadStreamAsync(response, result, timeout.Token);
            }
            else
            {
                var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
                result.FirstToken = result.Ended = clock.Elapsed.TotalSeconds;
                if (result.Status == 200)
                {
                    ReadJsonUsage(body, result);
                }
                else
                {
                    result.Error = $"HTTP {result.Status}: {Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 300)))}";
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException or JsonException)
        {
            result.Error = ex is OperationCanceledException && !cancellationToken.IsCancellationRequested ? "timed out" : ex.GetBaseException().Message;
        }
        finally
        {
            if (double.IsNaN(result.Ended))
            {
                result.Ended = clock.Elapsed.TotalSeconds;
            }

            record(result);
        }
    }

    private async Task ReadStreamAsync(HttpResponseMessage response, RequestResult result, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string? eventName = null;
        var sawStop = false;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("event:", StringComparison.Ordinal))
            {
                eventName = line[6..].Trim();
                continue;
            }

            if (!line.StartsWith("data:", StringComparison.Ordinal))
            {
                continue;
            }

            var data = line[5..].Trim();
            var type = eventName ?? TypeOf(data);
            if (double.IsNaN(result.FirstToken) && type is "content_block_start" or "content_block_delta" or "message_delta" or "message_stop")
            {
                result.FirstToken = clock.Elapsed.TotalSeconds;
            }

            switch (type)
            {
                case "message_start":
                    using (var doc = JsonDocument.Parse(data))
                    {
                        if (doc.RootElement.TryGetProperty("message", out var msg) && msg.TryGetProperty("usage", out var usage))
                        {
                            ReadUsage(usage, result);
                        }
                    }

                    break;
                case "message_delta":
                    using (var doc = JsonDocument.Parse(data))
                    {
                        if (doc.RootElement.TryGetProperty("usage", out var usage))
                        {
                            ReadUsage(usage, result);
                        }
                    }

                    break;
                case "message_stop":
                    sawStop = true;
                    break;
                case "error":
                    result.Error = "stream error: " + data[..Math.Min(300, data.Length)];
                    break;
            }

            eventName = null;
        }

        result.Ended = clock.Elapsed.TotalSeconds;
        if (!sawStop && result.Error is null)
        {
            result.Error = "stream ended without message_stop";
        }
    }

    private static string? TypeOf(string data)
    {
        try
        {
            using var doc = JsonDocument.Parse(data);
            return doc.RootElement.TryGetProperty("type", out var type) ? type.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void ReadJsonUsage(byte[] body, RequestResult result)
    {
        using var doc = JsonDocument.Parse(body);
        if (result.Request.Kind == RequestKind.CountTokens)
        {
            return;
        }

        if (doc.RootElement.TryGetProperty("usage", out var usage))
        {
            ReadUsage(usage, result);
        }
    }

    private static void ReadUsage(JsonElement usage, RequestResult result)
    {
        if (usage.TryGetProperty("input_tokens", out var input) && input.TryGetInt32(out var i))
        {
            result.InputTokens = i;
        }

        if (usage.TryGetProperty("cache_read_input_tokens", out var cached) && cached.TryGetInt32(out var c))
        {
            result.CacheReadTokens = c;
        }

        if (usage.TryGetProperty("output_tokens", out var output) && output.TryGetInt32(out var o))
        {
            result.OutputTokens = o;
        }
    }
}
