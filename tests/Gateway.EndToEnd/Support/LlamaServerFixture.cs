using System.Globalization;
using System.Net;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>How to run one llama-server.</summary>
internal sealed record LlamaServerOptions
{
    /// <summary>GGUF path; default the fast tiny model.</summary>
    public string? Model { get; init; }

    /// <summary>Parallel slots (<c>-np</c>).</summary>
    public int Slots { get; init; } = 4;

    /// <summary>Context per slot; <c>-c</c> is this times <see cref="Slots"/> (Claude Code prompts are ~12K tokens).</summary>
    public int ContextPerSlot { get; init; } = 32768;

    /// <summary><c>--cache-ram</c> in MiB (host-RAM prompt cache); null keeps llama-server's default.</summary>
    public int? CacheRamMiB { get; init; }

    /// <summary><c>--slot-save-path</c>, for <c>POST /slots/{id}?action=save|restore</c>; null leaves it off.</summary>
    public string? SlotSavePath { get; init; }

    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>How long loading may take before <c>GET /health</c> must answer 200.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(120);
}

/// <summary>
/// A real llama-server on a free loopback port, with its output captured to a file and parsed for what it actually
/// re-computed. Disposing kills it (and anything it started).
/// </summary>
internal sealed class LlamaServerFixture : IAsyncDisposable
{
    /// <summary>Qwen2's &lt;|im_end|&gt;: biased up so the random-weight model ends its turn at once.</summary>
    public const string EosLogitBias = "151645+10";

    private const int StartAttempts = 3;

    private readonly ChildProcess _process;

    private LlamaServerFixture(ChildProcess process, int port, LlamaServerOptions options, string logPath, IReadOnlyList<string> arguments)
    {
        _process = process;
        Port = port;
        Options = options;
        LogPath = logPath;
        CommandLine = string.Join(' ', arguments);
        BaseUrl = $"http://127.0.0.1:{port}";
        Client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(10) };
    }

    public string BaseUrl { get; }

    public int Port { get; }

    public LlamaServerOptions Options { get; }

    public int Slots => Options.Slots;

    /// <summary>llama-server's stdout and stderr.</summary>
    public string LogPath { get; }

    public string CommandLine { get; }

    public HttpClient Client { get; }

    public static async Task<LlamaServerFixture> StartAsync(LlamaServerOptions options, string artifactsDirectory, string name = "llama-server")
    {
        var executable = Toolchain.LlamaServer;
        var model = options.Model ?? Toolchain.FastModel;
        Directory.CreateDirectory(artifactsDirectory);
        var logPath = Path.Combine(artifactsDirectory, name + ".log");
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.Next();
            var arguments = Arguments(options, model, port);
            var process = ChildProcess.Start(executable, arguments, artifactsDirectory, logPath, removePrefixes: ["LLAMA_ARG_"]);
            var server = new LlamaServerFixture(process, port, options, logPath, arguments);
            try
            {
                await server.WaitHealthyAsync(options.StartTimeout);
                return server;
            }
            catch (Exception) when (attempt < StartAttempts && process.HasExited && process.Tail(40).Contains("bind", StringComparison.OrdinalIgnoreCase))
            {
                // Someone took the port between FreePort.Next() and the bind: try another.
                await server.DisposeAsync();
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>The command-line arguments for <paramref name="options"/> (also used by scripts/demo.sh's doc).</summary>
    public static IReadOnlyList<string> Arguments(LlamaServerOptions options, string model, int port)
    {
        var arguments = new List<string>
        {
            "-m", model,
            "--host", "127.0.0.1",
            "--port", port.ToString(CultureInfo.InvariantCulture),
            "-np", options.Slots.ToString(CultureInfo.InvariantCulture),
            "-c", ((long)options.Slots * options.ContextPerSlot).ToString(CultureInfo.InvariantCulture),
            "--jinja",
            "--metrics",
            "-l", EosLogitBias,
            "--no-webui",
            "--log-colors", "off",
        };
        if (options.CacheRamMiB is { } cacheRam)
        {
            arguments.AddRange(["--cache-ram", cacheRam.ToString(CultureInfo.InvariantCulture)]);
        }

        if (options.SlotSavePath is { } slotSavePath)
        {
            Directory.CreateDirectory(slotSavePath);
            arguments.AddRange(["--slot-save-path", slotSavePath]);
        }

        arguments.AddRange(options.ExtraArguments);
        return arguments;
    }

    public async Task<LlamaServerMetrics> ReadMetricsAsync(CancellationToken cancellationToken = default)
    {
        using var response = await Client.GetAsync("/metrics", cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"GET {BaseUrl}/metrics answered {(int)response.StatusCode}: {text}");
        }

        return LlamaServerMetrics.Parse(text);
    }

    /// <summary>Marks the start of a measurement. Call it while the server is idle.</summary>
    public async Task<PrefillMark> MarkAsync() => new(await ReadMetricsAsync(), _process.LineCount);

    /// <summary>
    /// Waits until llama-server is idle (no request processing or deferred, every prompt it started since the mark has
    /// finished in its log), then reports what it re-computed since <paramref name="mark"/>.
    /// </summary>
    public async Task<PrefillReport> MeasureSinceAsync(PrefillMark mark, TimeSpan? timeout = null)
    {
        LlamaServerMetrics? metrics = null;
        IReadOnlyList<LlamaRequest> requests = [];
        await Poll.UntilAsync("llama-server to finish every request", timeout ?? TimeSpan.FromSeconds(60), async () =>
        {
            EnsureRunning();
            metrics = await ReadMetricsAsync();
            requests = LlamaServerLog.Parse(_process.LinesSince(mark.LogLine));
            var done = metrics.RequestsProcessing == 0 && metrics.RequestsDeferred == 0 && requests.All(r => r.Finished && (r.RecomputedTokens is not null || r.Cancelled));
            return (done, $"processing {metrics.RequestsProcessing}, deferred {metrics.RequestsDeferred}, logged {requests.Count(r => r.Finished)}/{requests.Count} finished");
        });

        return new PrefillReport(
            metrics!.PromptTokens - mark.Metrics.PromptTokens,
            metrics.CachedPromptTokens - mark.Metrics.CachedPromptTokens,
            metrics.PromptSeconds - mark.Metrics.PromptSeconds,
            requests);
    }

    /// <summary>Every prompt llama-server has run so far, from its log.</summary>
    public IReadOnlyList<LlamaRequest> AllRequests() => LlamaServerLog.Parse(_process.LinesSince(0));

    public string Tail(int lines = 30) => _process.Tail(lines);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        _process.Dispose();
        await Task.CompletedTask;
    }

    private void EnsureRunning()
    {
        if (_process.HasExited)
        {
            // Let the last output lines arrive, so the message shows why it exited.
            _process.WaitForExitAsync(TimeSpan.FromSeconds(2)).GetAwaiter().GetResult();
            throw new InvalidOperationException($"llama-server exited with code {_process.ExitCode}; log {LogPath}:\n{_process.Tail()}");
        }
    }

    private async Task WaitHealthyAsync(TimeSpan timeout)
    {
        await Poll.UntilAsync($"llama-server ({CommandLine}) to answer GET /health with 200", timeout, async () =>
        {
            EnsureRunning();
            try
            {
                using var response = await Client.GetAsync("/health");
                return (response.StatusCode == HttpStatusCode.OK, $"GET /health answered {(int)response.StatusCode}");
            }
            catch (HttpRequestException ex)
            {
                return (false, ex.Message);
            }
            catch (TaskCanceledException)
            {
                return (false, "GET /health timed out");
            }
        });
    }
}
