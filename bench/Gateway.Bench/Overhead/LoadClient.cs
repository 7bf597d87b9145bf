using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using LlamaGateway.Bench.Infrastructure;

namespace LlamaGateway.Bench.Overhead;

/// <summary>
/// The overhead suite's load generator for one target: a closed loop of clients, each with its own conversation,
/// sending back to back and reading every response to its end. One instance per target for the whole suite, so its
/// pooled connections stay open between that target's measurements (the paired windows measure without a warm-up).
/// </summary>
internal sealed class LoadClient : IDisposable
{
    /// <summary>The number stamped into the next request body (see <see cref="OverheadBodies.Stamp"/>), across all targets.</summary>
    private static long s_requestNumber;

    private readonly SocketsHttpHandler _handler;
    private readonly HttpClient _client;
    private readonly string _url;
    private readonly IReadOnlyList<int> _sizes;
    private readonly Dictionary<int, byte[][]> _bodies;
    private readonly Dictionary<int, int[][]> _numberOffsets;
    private string? _firstError;

    public LoadClient(string target, string url, IReadOnlyList<int> sizesKb, Dictionary<int, byte[][]> bodies)
    {
        Target = target;
        _url = url;
        _sizes = sizesKb;
        _bodies = bodies;
        _numberOffsets = bodies.ToDictionary(kv => kv.Key, kv => kv.Value.Select(OverheadBodies.NumberOffsets).ToArray());
        _handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = int.MaxValue,
            // Below Kestrel's 130 s keep-alive timeout: a target idles for minutes while the others take their turns.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
        };
        _client = new HttpClient(_handler) { Timeout = TimeSpan.FromSeconds(60) };
    }

    public string Target { get; }

    /// <summary>The first failure's message since the last <see cref="TakeFirstError"/>, or null.</summary>
    public string? TakeFirstError() => Interlocked.Exchange(ref _firstError, null);

    /// <summary>Sends one request of the body size <paramref name="sequence"/> picks as client <paramref name="clientIndex"/>.</summary>
    public async Task<(double Latency, double Ttfb, bool Ok)> SendOneAsync(int clientIndex, int sequence, CancellationToken cancellationToken)
    {
        try
        {
            return await SendCoreAsync(clientIndex, sequence, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException)
        {
            Interlocked.CompareExchange(ref _firstError, ex.GetBaseException().Message, null);
            return (double.NaN, double.NaN, false);
        }
    }

    public int SizeOf(int sequence) => _sizes[sequence % _sizes.Count];

    private async Task<(double Latency, double Ttfb, bool Ok)> SendCoreAsync(int clientIndex, int sequence, CancellationToken cancellationToken)
    {
        var kb = SizeOf(sequence);

        // A client has one request in flight, so its body can be stamped in place: a new number every request of
        // the suite, so no proxy ever sees the newest messages twice (and the gateway reuses only what repeats).
        var body = _bodies[kb][clientIndex];
        OverheadBodies.Stamp(body, _numberOffsets[kb][clientIndex], Interlocked.Increment(ref s_requestNumber));
        using var request = new HttpRequestMessage(HttpMethod.Post, _url + "/v1/messages?beta=true") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        request.Headers.TryAddWithoutValidation("x-api-key", "bench-key");
        request.Headers.TryAddWithoutValidation("X-Claude-Code-Session-Id", $"overhead-{clientIndex}");
        var start = Stopwatch.GetTimestamp();
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        var ttfb = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[8192];
        var sawStop = false;
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            sawStop |= buffer.AsSpan(0, read).IndexOf("message_stop"u8) >= 0;
        }

        if (response.StatusCode != HttpStatusCode.OK || !sawStop)
        {
            Interlocked.CompareExchange(ref _firstError, $"HTTP {(int)response.StatusCode}{(sawStop ? string.Empty : ", no message_stop")}", null);
        }

        return (Stopwatch.GetElapsedTime(start).TotalMilliseconds, ttfb, response.StatusCode == HttpStatusCode.OK && sawStop);
    }

    /// <summary>
    /// One measured window: <paramref name="concurrency"/> clients send until at least <paramref name="minRequests"/>
    /// requests have been issued and <paramref name="minDuration"/> has passed; the CPU time of every process over the
    /// window, per completed request, comes with it.
    /// </summary>
    public async Task<LoadRun> MeasureAsync(int concurrency, int minRequests, TimeSpan minDuration, ChildProcess? proxy, ChildProcess upstream, CancellationToken cancellationToken)
    {
        var latency = _sizes.Distinct().ToDictionary(s => s, _ => new List<double>());
        var ttfbs = _sizes.Distinct().ToDictionary(s => s, _ => new List<double>());
        var failed = 0;
        var issued = 0;
        var gate = new object();
        var completed = 0;
        var self = Process.GetCurrentProcess();
        var cpuBefore = (Proxy: proxy?.CpuTime() ?? TimeSpan.Zero, Upstream: upstream.CpuTime(), Client: self.TotalProcessorTime);
        var switchesBefore = proxy is null ? default : ProcessScheduling.Read(proxy.Id);
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async c =>
        {
            int n;
            while ((n = Interlocked.Increment(ref issued)) <= minRequests || clock.Elapsed < minDuration)
            {
                var (ms, ttfb, ok) = await SendOneAsync(c, n, cancellationToken);
                lock (gate)
                {
                    completed++;
                    if (ok)
                    {
                        latency[SizeOf(n)].Add(ms);
                        ttfbs[SizeOf(n)].Add(ttfb);
                    }
                    else
                    {
                        failed++;
                    }
                }
            }
        }));
        clock.Stop();
        self.Refresh();
        var switchesAfter = proxy is null ? default : ProcessScheduling.Read(proxy.Id);

        // A thread that exits during the window takes its counts with it, which can make the difference negative: unknown then.
        double SwitchesPerRequest(long before, long after) => proxy is null || completed == 0 || after < before ? double.NaN : (double)(after - before) / completed;
        double PerRequest(TimeSpan before, TimeSpan after) => completed == 0 ? double.NaN : (after - before).TotalMicroseconds / completed;
        return new LoadRun(Target, concurrency, clock.Elapsed.TotalSeconds, completed, failed, latency, ttfbs)
        {
            FirstError = TakeFirstError(),
            ProxyCpuUsPerRequest = proxy is null ? double.NaN : PerRequest(cpuBefore.Proxy, proxy.CpuTime()),
            UpstreamCpuUsPerRequest = PerRequest(cpuBefore.Upstream, upstream.CpuTime()),
            ClientCpuUsPerRequest = PerRequest(cpuBefore.Client, self.TotalProcessorTime),
            ProxyVoluntarySwitchesPerRequest = SwitchesPerRequest(switchesBefore.Voluntary, switchesAfter.Voluntary),
            ProxyInvoluntarySwitchesPerRequest = SwitchesPerRequest(switchesBefore.Involuntary, switchesAfter.Involuntary),
            ProxyThreads = proxy is null ? -1 : switchesAfter.Threads,
        };
    }

    public void Dispose()
    {
        _client.Dispose();
        _handler.Dispose();
    }
}
