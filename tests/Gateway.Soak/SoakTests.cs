using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace LlamaGateway.Soak;

/// <summary>
/// 64 concurrent streaming clients for 60 s through the real gateway process to a fake llama-server that is killed
/// and restarted half-way. Every stream must either complete or end with a well-formed error event; a request the
/// gateway turns away must get an error body in its dialect; nothing may be silently truncated; the gateway's
/// memory must stay flat. Loopback only, bounded in time. GATEWAY_SOAK_SECONDS and GATEWAY_SOAK_CLIENTS override
/// the duration and the number of clients.
/// </summary>
public sealed class SoakTests(ITestOutputHelper output)
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private enum Outcome
    {
        Completed,
        ErrorEvent,
        ErrorResponse,
        Truncated,
        ConnectionFailed,
        Malformed,
    }

    [SoakFact]
    [Trait("Category", "Soak")]
    public async Task Soak_StreamingClientsWhileUpstreamIsKilledAndRestarted_NoSilentTruncationAndFlatMemory()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("GATEWAY_SOAK_SECONDS"), out var s) ? s : 60;
        var clients = int.TryParse(Environment.GetEnvironmentVariable("GATEWAY_SOAK_CLIENTS"), out var c) ? c : 64;
        var duration = TimeSpan.FromSeconds(seconds);

        // 20 tokens 25 ms apart: each stream lasts about half a second, so a kill finds many of them mid-stream.
        await using var upstream = new SoakUpstream(chunks: 20, chunkInterval: TimeSpan.FromMilliseconds(25));
        await upstream.StartAsync();
        await using var gateway = await GatewayProcess.StartAsync(Config(upstream.BaseUrl, clients));

        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = clients * 2 })
        {
            BaseAddress = new Uri(gateway.BaseUrl),
            Timeout = TimeSpan.FromSeconds(60),
        };
        var outcomes = new ConcurrentDictionary<string, int>();
        var failures = new ConcurrentQueue<string>();
        var durations = new ConcurrentBag<double>();
        var memory = new List<(double At, double Rss, double Peak)>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();

        var workers = Enumerable.Range(0, clients).Select(i => Task.Run(() => ClientLoopAsync(i, http, clock, duration, outcomes, failures, durations, stop.Token))).ToArray();

        // Kill at half time, restart 3 s later; sample the gateway's memory every 5 s meanwhile.
        var killedAt = TimeSpan.Zero;
        var restartedAt = TimeSpan.Zero;
        var killed = false;
        var restarted = false;
        var nextSample = TimeSpan.FromSeconds(5);
        while (clock.Elapsed < duration)
        {
            if (!killed && clock.Elapsed >= duration / 2)
            {
                killed = true;
                killedAt = clock.Elapsed;
                await upstream.KillAsync();
            }
            else if (killed && !restarted && clock.Elapsed >= killedAt + TimeSpan.FromSeconds(3))
            {
                restarted = true;
                restartedAt = clock.Elapsed;
                await upstream.StartAsync();
            }

            if (clock.Elapsed >= nextSample)
            {
                var (rss, peak) = gateway.Memory();
                memory.Add((clock.Elapsed.TotalSeconds, rss, peak));
                nextSample += TimeSpan.FromSeconds(5);
            }

            await Task.Delay(100);
        }

        // No new requests after the deadline; the running ones get a bounded time to finish.
        var drained = await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60)).ContinueWith(t => t.IsCompletedSuccessfully);
        await stop.CancelAsync();
        var (endRss, endPeak) = gateway.Memory();
        memory.Add((clock.Elapsed.TotalSeconds, endRss, endPeak));

        var report = Report(seconds, clients, upstream, outcomes, durations, memory, killedAt, restartedAt, failures);
        output.WriteLine(report);
        var reportPath = Path.Combine(AppContext.BaseDirectory, "soak-report.txt");
        await File.WriteAllTextAsync(reportPath, report);
        output.WriteLine($"report written to {reportPath}");

        Assert.True(drained, "clients did not finish within 60 s after the deadline");
        Assert.Equal(0, outcomes.GetValueOrDefault(nameof(Outcome.Truncated)));
        Assert.Equal(0, outcomes.GetValueOrDefault(nameof(Outcome.Malformed)));
        Assert.Equal(0, outcomes.GetValueOrDefault(nameof(Outcome.ConnectionFailed)));
        Assert.True(outcomes.GetValueOrDefault(nameof(Outcome.Completed)) > clients * 10, "too few streams completed");
        Assert.True(outcomes.GetValueOrDefault(nameof(Outcome.ErrorEvent)) + outcomes.GetValueOrDefault(nameof(Outcome.ErrorResponse)) > 0, "the kill was not noticed");

        // Flat memory: the end is within 25% (+16 MiB) of the first sample after 10 s of warm-up (JIT, pools, threads).
        var warm = WarmSample(memory).Rss;
        Assert.True(endRss < (warm * 1.25) + 16, $"gateway RSS grew from {warm:0.0} MiB to {endRss:0.0} MiB");
    }

    private static (double At, double Rss, double Peak) WarmSample(List<(double At, double Rss, double Peak)> memory) =>
        memory.FirstOrDefault(m => m.At >= 10, memory[^1]);

    private static string Config(string upstream, int clients) => JsonSerializer.Serialize(new
    {
        Gateway = new
        {
            Upstreams = new[] { new { Name = "soak", BaseUrl = upstream, Dialect = "openai", Slots = clients } },
            Routing = new { SideLaneSlots = 0, MaxQueueSeconds = 30 },
            Health = new { IntervalSeconds = 1, UnhealthyIntervalSeconds = 0.2, BreakSeconds = 0.5, ProbeTimeoutSeconds = 1, ProbeRetries = 1 },
            Timeouts = new { ConnectSeconds = 2, FirstByteSeconds = 20, StreamIdleSeconds = 10 },
        },
        Serilog = new { MinimumLevel = new { Default = "Warning" } },
    });

    private static async Task ClientLoopAsync(int client, HttpClient http, Stopwatch clock, TimeSpan duration, ConcurrentDictionary<string, int> outcomes,
        ConcurrentQueue<string> failures, ConcurrentBag<double> durations, CancellationToken cancellationToken)
    {
        var random = new Random(client);
        var turn = 0;
        while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
        {
            var anthropic = (client + turn) % 2 == 0;
            var started = clock.Elapsed;
            var (outcome, detail) = await OneStreamAsync(http, anthropic, client, turn++, cancellationToken);
            outcomes.AddOrUpdate(outcome.ToString(), 1, (_, n) => n + 1);
            if (outcome == Outcome.Completed)
            {
                durations.Add((clock.Elapsed - started).TotalMilliseconds);
            }
            else
            {
                if (outcome is Outcome.Truncated or Outcome.Malformed or Outcome.ConnectionFailed && failures.Count < 50)
                {
                    failures.Enqueue($"client {client} turn {turn} ({(anthropic ? "anthropic" : "openai")}): {outcome}: {detail}");
                }

                // Back off a little, as a client would after an error (bounded: the loop ends at the deadline).
                await Task.Delay(50 + random.Next(150), CancellationToken.None);
            }
        }
    }

    private static async Task<(Outcome, string)> OneStreamAsync(HttpClient http, bool anthropic, int client, int turn, CancellationToken cancellationToken)
    {
        using var request = anthropic
            ? new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
            {
                Content = new StringContent($$"""{"model":"claude-soak","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"client {{client}} turn {{turn}}"}]}""", Encoding.UTF8, "application/json"),
            }
            : new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent($$"""{"model":"soak","stream":true,"messages":[{"role":"user","content":"client {{client}} turn {{turn}}"}]}""", Encoding.UTF8, "application/json"),
            };
        if (anthropic)
        {
            request.Headers.Add("anthropic-version", "2023-06-01");
        }

        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                return IsErrorBody(body, anthropic) ? (Outcome.ErrorResponse, $"HTTP {(int)response.StatusCode}") : (Outcome.Malformed, $"HTTP {(int)response.StatusCode}: {body}");
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
            string? last = null;
            var lines = new List<string>();
            var errorEvents = 0;
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (line.Length > 0)
                {
                    lines.Add(line);
                    continue;
                }

                if (lines.Count == 0)
                {
                    continue;
                }

                last = string.Join('\n', lines);
                lines.Clear();
                if (IsErrorEvent(last, anthropic))
                {
                    errorEvents++;
                }
            }

            if (lines.Count > 0)
            {
                return (Outcome.Truncated, $"stream ended inside an event: {string.Join('|', lines)}");
            }

            if (last is null)
            {
                return (Outcome.Truncated, "empty stream");
            }

            if (errorEvents > 0)
            {
                return errorEvents == 1 && IsErrorEvent(last, anthropic) ? (Outcome.ErrorEvent, last) : (Outcome.Malformed, $"{errorEvents} error events, last: {last}");
            }

            var completed = anthropic ? last.StartsWith("event: message_stop", StringComparison.Ordinal) : last == "data: [DONE]";
            return completed ? (Outcome.Completed, string.Empty) : (Outcome.Truncated, $"last event: {last}");
        }
        catch (HttpRequestException ex)
        {
            return (Outcome.ConnectionFailed, ex.Message);
        }
        catch (IOException ex)
        {
            // The gateway cut the stream off (a reset): exactly the silent truncation this test is about.
            return (Outcome.Truncated, ex.Message);
        }
    }

    private static bool IsErrorEvent(string sseEvent, bool anthropic)
    {
        var lines = sseEvent.Split('\n');
        var data = lines.FirstOrDefault(l => l.StartsWith("data: ", StringComparison.Ordinal))?["data: ".Length..];
        if (data is null || !data.StartsWith('{') || !data.Contains("\"error\"", StringComparison.Ordinal))
        {
            return false;
        }

        return (!anthropic || lines[0] == "event: error") && IsErrorBody(data, anthropic);
    }

    private static bool IsErrorBody(string body, bool anthropic)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            return root.TryGetProperty("error", out var error) && error.TryGetProperty("message", out var message) && message.GetString()?.Length > 0
                && (!anthropic || (root.TryGetProperty("type", out var type) && type.GetString() == "error"));
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Report(int seconds, int clients, SoakUpstream upstream, ConcurrentDictionary<string, int> outcomes, ConcurrentBag<double> durations,
        List<(double At, double Rss, double Peak)> memory, TimeSpan killedAt, TimeSpan restartedAt, ConcurrentQueue<string> failures)
    {
        var sorted = durations.Order().ToArray();
        double Percentile(double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
        var total = outcomes.Values.Sum();
        var text = new StringBuilder();
        text.AppendLine(Invariant, $"Soak: {clients} streaming clients for {seconds} s; upstream killed at {killedAt.TotalSeconds:0.0} s, restarted at {restartedAt.TotalSeconds:0.0} s");
        text.AppendLine(Invariant, $"  requests            {total}");
        foreach (var outcome in Enum.GetNames<Outcome>())
        {
            text.AppendLine(Invariant, $"  {outcome,-19} {outcomes.GetValueOrDefault(outcome)}");
        }

        text.AppendLine(Invariant, $"  upstream streams    {upstream.Streams}");
        text.AppendLine(Invariant, $"  completed stream ms p50 {Percentile(0.5):0} / p99 {Percentile(0.99):0} / max {(sorted.Length == 0 ? 0 : sorted[^1]):0}");
        var warm = WarmSample(memory);
        text.AppendLine(Invariant, $"  gateway RSS MiB     after warm-up {warm.Rss:0.0} (at {warm.At:0} s), end {memory.Last().Rss:0.0}, peak {memory.Max(m => m.Peak):0.0}");
        text.AppendLine("  RSS samples         " + string.Join(", ", memory.Select(m => string.Create(Invariant, $"{m.At:0}s={m.Rss:0.0}"))));
        foreach (var failure in failures)
        {
            text.AppendLine("  FAILURE " + failure);
        }

        return text.ToString();
    }
}
