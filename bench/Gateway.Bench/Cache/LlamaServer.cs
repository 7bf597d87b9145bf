using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using LlamaGateway.Bench.Infrastructure;

namespace LlamaGateway.Bench.Cache;

/// <summary>One llama-server task as its log reports it (times already converted to the bench's clock, seconds).</summary>
internal sealed class ServerTask
{
    public required int Instance { get; init; }
    public required int TaskId { get; init; }
    public required int Slot { get; init; }
    public string SelectedBy { get; set; } = "?";
    public double Launch { get; set; } = double.NaN;
    public double PromptEvalMs { get; set; } = double.NaN;
    public int Recomputed { get; set; } = -1;
    public int Generated { get; set; } = -1;
    public double Release { get; set; } = double.NaN;
    public int TotalTokens { get; set; } = -1;
    public bool Matched { get; set; }
}

/// <summary>
/// A real llama-server started for one variant, on a free loopback port: readiness from its own "listening" line,
/// counters from <c>/metrics</c>, and every task's launch, prefill and release parsed from its log (with the log
/// clock mapped onto the bench's clock), so queueing delay can be measured from the server's side.
/// </summary>
internal sealed partial class LlamaServer : IAsyncDisposable
{
    private readonly ChildProcess _process;
    private readonly Stopwatch _clock;
    private readonly object _gate = new();
    private readonly Dictionary<int, ServerTask> _tasks = [];
    private readonly Dictionary<int, string> _pendingSelection = [];
    private double _offset = double.MaxValue;

    private LlamaServer(int instance, int port, Stopwatch clock, ChildProcess? process)
    {
        Instance = instance;
        Port = port;
        _clock = clock;
        _process = process!;
    }

    public int Instance { get; }

    public int Port { get; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public int CacheRamEvictions { get; private set; }

    public static async Task<LlamaServer> StartAsync(string binary, string model, int instance, int slots, int cacheRamMiB, Stopwatch clock, CancellationToken cancellationToken, string? slotSavePath = null, int? batchSize = null, IReadOnlyList<string>? extraArgs = null)
    {
        var port = FreePort();
        LlamaServer? server = null;
        var args = new List<string>
        {
            "-m", model, "--jinja", "-np", slots.ToString(CultureInfo.InvariantCulture),
            "-c", (slots * 32768).ToString(CultureInfo.InvariantCulture), "--metrics", "-l", "151645+10",
            "--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture),
            "--cache-ram", cacheRamMiB.ToString(CultureInfo.InvariantCulture),
        };
        if (slotSavePath is not null)
        {
            args.AddRange(["--slot-save-path", slotSavePath]);
        }

        if (batchSize is { } batch)
        {
            args.AddRange(["-b", batch.ToString(CultureInfo.InvariantCulture)]);
        }

        args.AddRange(extraArgs ?? []);
        var process = ChildProcess.Start($"llama-server #{instance}", binary, args, line => server?.OnLine(line));
        server = new LlamaServer(instance, port, clock, process);
        await process.WaitForLineAsync(l => l.Contains("listening on", StringComparison.Ordinal), TimeSpan.FromMinutes(5), cancellationToken);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var health = await http.GetAsync(new Uri(server.BaseUrl + "/health"), cancellationToken);
        if (!health.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"llama-server #{instance} answered /health with {(int)health.StatusCode} after saying it listens");
        }

        return server;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>llama.cpp's Prometheus counters, by name without the <c>llamacpp:</c> prefix.</summary>
    public async Task<Dictionary<string, double>> MetricsAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var text = await http.GetStringAsync(new Uri(BaseUrl + "/metrics"), cancellationToken);
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("llamacpp:", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', 2);
                if (parts.Length == 2 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    values[parts[0]["llamacpp:".Length..]] = value;
                }
            }
        }

        return values;
    }

    public IReadOnlyList<ServerTask> Tasks()
    {
        lock (_gate)
        {
            return [.. _tasks.Values.OrderBy(t => t.TaskId)];
        }
    }

    public Dictionary<string, int> SelectionCounts()
    {
        lock (_gate)
        {
            return _tasks.Values.GroupBy(t => t.SelectedBy).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        }
    }

    public string LogTail() => _process.Tail();

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    private void OnLine(string line)
    {
        var now = _clock.Elapsed.TotalSeconds;
        var stamp = Stamp().Match(line);
        if (!stamp.Success)
        {
            return;
        }

        var logSeconds = (int.Parse(stamp.Groups[1].ValueSpan, CultureInfo.InvariantCulture) * 60.0)
            + int.Parse(stamp.Groups[2].ValueSpan, CultureInfo.InvariantCulture)
            + (int.Parse(stamp.Groups[3].ValueSpan, CultureInfo.InvariantCulture) / 1e3)
            + (int.Parse(stamp.Groups[4].ValueSpan, CultureInfo.InvariantCulture) / 1e6);
        lock (_gate)
        {
            // A line is read after it was written, so the smallest (read - logged) difference is the best estimate
            // of the offset between the two clocks.
            _offset = Math.Min(_offset, now - logSeconds);
            if (line.Contains("making room for prompt cache entry", StringComparison.Ordinal) || line.Contains("cache size limit reached", StringComparison.Ordinal))
            {
                CacheRamEvictions++;
                return;
            }

            var slot = SlotLine().Match(line);
            if (!slot.Success)
            {
                return;
            }

            var slotId = int.Parse(slot.Groups[1].ValueSpan, CultureInfo.InvariantCulture);
            var taskId = int.Parse(slot.Groups[2].ValueSpan, CultureInfo.InvariantCulture);
            var rest = slot.Groups[3].Value;
            if (rest.StartsWith("selected slot by ", StringComparison.Ordinal))
            {
                var reason = rest["selected slot by ".Length..];
                var cut = reason.IndexOfAny([',', ' ']);
                _pendingSelection[slotId] = cut > 0 ? reason[..cut] : reason;
                return;
            }

            if (taskId < 0)
            {
                return;
            }

            if (!_tasks.TryGetValue(taskId, out var task))
            {
                task = new ServerTask { Instance = Instance, TaskId = taskId, Slot = slotId };
                _tasks[taskId] = task;
            }

            if (rest.StartsWith("processing task", StringComparison.Ordinal))
            {
                // Offsets are refined as lines arrive; keep the raw log time and convert at read time.
                task.Launch = logSeconds;
                if (_pendingSelection.Remove(slotId, out var selectedBy))
                {
                    task.SelectedBy = selectedBy;
                }
            }
            else if (PromptEval().Match(rest) is { Success: true } prompt)
            {
                task.PromptEvalMs = double.Parse(prompt.Groups[1].ValueSpan, CultureInfo.InvariantCulture);
                task.Recomputed = int.Parse(prompt.Groups[2].ValueSpan, CultureInfo.InvariantCulture);
            }
            else if (Eval().Match(rest) is { Success: true } eval)
            {
                task.Generated = int.Parse(eval.Groups[1].ValueSpan, CultureInfo.InvariantCulture);
            }
            else if (Release().Match(rest) is { Success: true } release)
            {
                task.Release = logSeconds;
                task.TotalTokens = int.Parse(release.Groups[1].ValueSpan, CultureInfo.InvariantCulture);
            }
        }
    }

    /// <summary>Converts a log time to the bench clock with the best offset seen so far.</summary>
    public double ToBenchClock(double logSeconds)
    {
        lock (_gate)
        {
            return logSeconds + _offset;
        }
    }

    [GeneratedRegex(@"^(\d+)\.(\d{2})\.(\d{3})\.(\d{3}) ")]
    private static partial Regex Stamp();

    [GeneratedRegex(@"slot\s+\S+: id\s+(\d+) \| task (-?\d+) \| (.*)$")]
    private static partial Regex SlotLine();

    [GeneratedRegex(@"^prompt eval time =\s+([\d.]+) ms /\s+(\d+) tokens")]
    private static partial Regex PromptEval();

    [GeneratedRegex(@"^\s*eval time =\s+[\d.]+ ms /\s+(\d+) tokens")]
    private static partial Regex Eval();

    [GeneratedRegex(@"^stop processing: n_tokens = (\d+)")]
    private static partial Regex Release();
}
