using System.Globalization;
using System.Text;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>One CLI run and what it cost llama-server.</summary>
/// <param name="Label">e.g. "conversation 1, turn 2".</param>
/// <param name="Run">The CLI run (exit code, output).</param>
/// <param name="Prefill">What llama-server re-computed during the run, by its own counters and log.</param>
/// <param name="GatewayRequests">What the gateway logged for the run's requests (empty when run direct).</param>
internal sealed record TurnMeasurement(string Label, ClaudeRun Run, PrefillReport Prefill, IReadOnlyList<GatewayRequestLog> GatewayRequests)
{
    /// <summary>
    /// Tokens re-computed for the run's first prompt: the turn's main request (the full Claude Code prompt). Thresholds
    /// use this rather than the run total because the random-weight model answers with nothing (EOS first), so Claude
    /// Code sends every turn a second time with "[Your previous response had no visible output...]" appended; that
    /// retry re-computes the prompt's ~2.2K-token tail in every configuration alike.
    /// </summary>
    public long MainRequestTokens => Prefill.First?.RecomputedTokens ?? 0;

    public string? SessionId => Run.Result?.SessionId;

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{Label}: claude {string.Join(' ', Run.Arguments.Where(a => a is "-c" or "-p" or "--resume"))} exit {Run.ExitCode} in {Run.Duration.TotalSeconds:0.0} s; ");
        text.Append(CultureInfo.InvariantCulture, $"main request re-computed {MainRequestTokens} tokens; run total {Prefill}");
        foreach (var request in GatewayRequests)
        {
            text.Append("\n    gateway: ").Append(request);
        }

        return text.ToString();
    }
}

/// <summary>
/// Runs Claude Code turns against a target (the gateway, or llama-server directly for a baseline) and measures each
/// one on llama-server. Every measurement is written to the test output and to measurements.txt in the artifacts.
/// </summary>
internal sealed class TurnMeter(LlamaServerFixture server, GatewayFixture? gateway, ITestOutputHelper output, string artifactsDirectory)
{
    private readonly string _measurementsPath = Path.Combine(artifactsDirectory, "measurements.txt");

    /// <summary>Where the CLI is pointed: the gateway when there is one, else llama-server itself.</summary>
    public string TargetUrl => gateway?.BaseUrl ?? server.BaseUrl;

    public string TargetName => gateway is null ? "direct to llama-server" : "through the gateway";

    /// <summary>Runs one turn; fails the test (with logs to look at) if the CLI does not succeed.</summary>
    public async Task<TurnMeasurement> RunAsync(ClaudeCli cli, string label, string prompt, bool continueConversation, string? resumeSessionId = null)
    {
        var mark = await server.MarkAsync();
        var gatewayMark = gateway?.Requests.Count ?? 0;
        var run = await cli.PromptAsync(TargetUrl, prompt, continueConversation, resumeSessionId: resumeSessionId);
        if (!run.Succeeded)
        {
            Assert.Fail($"{label} ({TargetName}) did not succeed: {run.Describe()}\n" +
                        $"llama-server log {server.LogPath} ends:\n{server.Tail(15)}\n" +
                        (gateway is null ? string.Empty : $"gateway log {gateway.LogPath}; its requests:\n  {string.Join("\n  ", gateway.Requests.Skip(gatewayMark))}"));
        }

        var prefill = await server.MeasureSinceAsync(mark);
        var gatewayRequests = await GatewayRequestsSinceAsync(gatewayMark, prefill.Requests.Count);
        var measurement = new TurnMeasurement(label, run, prefill, gatewayRequests);
        Record(measurement.ToString());

        // The CLI retries, and falls back from streaming to a plain request, so a run can succeed over a broken relay:
        // every request the gateway handled must have been served (2xx, a non-empty body) the first time.
        var unserved = gatewayRequests.Where(r => !r.Served).ToList();
        Assert.True(unserved.Count == 0,
            $"{label}: the CLI succeeded, but the gateway did not serve {unserved.Count} of its {gatewayRequests.Count} requests " +
            $"(see {gateway?.LogPath}):\n  {string.Join("\n  ", unserved)}");
        return measurement;
    }

    /// <summary>Writes a line to the test output and the artifacts.</summary>
    public void Record(string text)
    {
        output.WriteLine(text);
        File.AppendAllText(_measurementsPath, text + "\n");
    }

    /// <summary>
    /// The gateway logs a request after its response has gone out, so the CLI can exit a moment before the last
    /// line; wait (bounded) until it has logged at least one request per prompt llama-server ran.
    /// </summary>
    private async Task<IReadOnlyList<GatewayRequestLog>> GatewayRequestsSinceAsync(int mark, int llamaRequests)
    {
        if (gateway is null)
        {
            return [];
        }

        try
        {
            await Poll.UntilAsync("the gateway to log the run's requests", TimeSpan.FromSeconds(10), () =>
            {
                // A request prefilled in chunks ran one llama-server request per chunk before its own.
                var logged = gateway.Requests.Skip(mark).Where(r => r.Route is not "/v1/messages/count_tokens").Sum(r => 1 + r.PrefillChunks);
                return Task.FromResult((logged >= llamaRequests, $"{logged} model requests (and prefill chunks) logged, llama-server ran {llamaRequests}"));
            });
        }
        catch (TimeoutException ex)
        {
            // Diagnostics only: the assertions use llama-server's own numbers.
            output.WriteLine(ex.Message);
        }

        return gateway.Requests.Skip(mark).ToList();
    }
}
