using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>One log entry the gateway wrote, with its structured values.</summary>
internal sealed record GatewayLogEntry(DateTimeOffset Time, LogLevel Level, string Category, EventId EventId, string Message, IReadOnlyDictionary<string, object?> Values, Exception? Exception)
{
    public string? Value(string name) => Values.TryGetValue(name, out var value) ? Convert.ToString(value, CultureInfo.InvariantCulture) : null;

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Time:HH:mm:ss.fff} {Level} {Category}[{EventId.Id}]: {Message}") + (Exception is null ? string.Empty : "\n" + Exception);
}

/// <summary>
/// What the gateway said it did with one request (its RequestCompleted / RequestFailed log line): which upstream and
/// llama-server slot (<c>id_slot</c>) it chose and why, and the token counts it accounted.
/// </summary>
internal sealed record GatewayRequestLog(string Method, string Route, string Upstream, string Slot, string Reason, int? Status,
    long? ResponseBytes, int? PromptTokens, int? CachedTokens, int? OutputTokens, string? Failure, string? Waited = null)
{
    public bool Failed => Failure is not null;

    /// <summary>Completed with a 2xx status and a non-empty body: what a working relay produces for a model request.</summary>
    public bool Served => !Failed && Status is >= 200 and < 300 && ResponseBytes is > 0;

    /// <summary>
    /// Chunks the gateway prefilled the request's prompt in before sending it ("prefilled N tokens in K chunks"): each
    /// is a llama-server request of its own; 0 when it went in one piece.
    /// </summary>
    public int PrefillChunks
    {
        get
        {
            var match = System.Text.RegularExpressions.Regex.Match(Waited ?? string.Empty, @"prefilled \d+ tokens in (\d+) chunks");
            return match.Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        }
    }

    /// <summary>The pinned slot as a number, or null when the gateway left the choice to llama-server ("any").</summary>
    public int? SlotNumber => int.TryParse(Slot, NumberStyles.None, CultureInfo.InvariantCulture, out var slot) ? slot : null;

    public static GatewayRequestLog? From(GatewayLogEntry entry)
    {
        static int? Int(GatewayLogEntry e, string name) => int.TryParse(e.Value(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;
        static long? Long(GatewayLogEntry e, string name) => long.TryParse(e.Value(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;
        // GatewayLog's source-generated messages carry their method name as the event name.
        return entry.EventId.Name switch
        {
            "RequestCompleted" => new GatewayRequestLog(entry.Value("Method") ?? "?", entry.Value("Route") ?? "?", entry.Value("Upstream") ?? "?", entry.Value("Slot") ?? "?",
                entry.Value("Reason") ?? "?", Int(entry, "Status"), Long(entry, "ResponseBytes"), Int(entry, "PromptTokens"), Int(entry, "CachedTokens"), Int(entry, "OutputTokens"), null, entry.Value("Waited")),
            "RequestFailed" => new GatewayRequestLog(entry.Value("Method") ?? "?", entry.Value("Route") ?? "?", entry.Value("Upstream") ?? "?", "-", "-", null, null, null, null, null,
                $"{entry.Value("Failure")} ({entry.Value("Kind")})"),
            _ => null,
        };
    }

    public override string ToString() => Failed
        ? $"{Method} {Route} -> {Upstream} FAILED: {Failure}"
        : $"{Method} {Route} -> {Upstream} slot {Slot} ({Reason}) {Status}, {ResponseBytes} B out; prompt {PromptTokens}, cached {CachedTokens}, output {OutputTokens}";
}

/// <summary>Keeps every entry the gateway logs (and copies it to a file) so tests can read what it decided.</summary>
internal sealed class GatewayLogSink : ILoggerProvider
{
    private readonly StreamWriter _file;
    private readonly object _fileGate = new();

    public GatewayLogSink(string path)
    {
        _file = new StreamWriter(path, append: false) { AutoFlush = true };
    }

    public ConcurrentQueue<GatewayLogEntry> Entries { get; } = new();

    /// <summary>The gateway's per-request log lines, in the order requests finished.</summary>
    public IReadOnlyList<GatewayRequestLog> Requests => Entries.Select(GatewayRequestLog.From).OfType<GatewayRequestLog>().ToList();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
        lock (_fileGate)
        {
            _file.Dispose();
        }
    }

    private void Add(GatewayLogEntry entry)
    {
        Entries.Enqueue(entry);
        lock (_fileGate)
        {
            try
            {
                _file.WriteLine(entry.ToString());
            }
            catch (ObjectDisposedException)
            {
                // Logged during shutdown, after the test has finished with the file.
            }
        }
    }

    private sealed class Logger(GatewayLogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                foreach (var (key, value) in pairs)
                {
                    values[key] = value;
                }
            }

            sink.Add(new GatewayLogEntry(DateTimeOffset.Now, logLevel, category, eventId, formatter(state, exception), values, exception));
        }
    }
}
