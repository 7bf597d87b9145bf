using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>One finished (or timed-out) run of the Claude Code CLI.</summary>
internal sealed record ClaudeRun(IReadOnlyList<string> Arguments, int ExitCode, bool TimedOut, string StandardOutput, string StandardError, TimeSpan Duration, string LogPath)
{
    public bool Succeeded => !TimedOut && ExitCode == 0 && Result is { IsError: false };

    /// <summary>The <c>--output-format json</c> result object, when stdout held one.</summary>
    public ClaudeResult? Result => ClaudeResult.TryParse(StandardOutput);

    /// <summary>A description for assertion messages: how it ended and what it printed.</summary>
    public string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"claude {string.Join(' ', Arguments)}: ") +
        (TimedOut ? "TIMED OUT" : string.Create(CultureInfo.InvariantCulture, $"exit {ExitCode}")) +
        string.Create(CultureInfo.InvariantCulture, $" after {Duration.TotalSeconds:0.0} s (log {LogPath})\nstdout: {Clip(StandardOutput)}\nstderr: {Clip(StandardError)}");

    /// <summary>The end of the output, where the CLI's error and its result line are.</summary>
    private static string Clip(string text) => text.Length <= 2000 ? text.Trim() : "..." + text[^2000..].Trim();
}

/// <summary>The fields of Claude Code's <c>--output-format json</c> result that the tests read.</summary>
internal sealed record ClaudeResult(bool IsError, string? SessionId, string? Subtype, int? NumTurns, string? Text)
{
    public static ClaudeResult? TryParse(string stdout)
    {
        // The result is the last JSON object line of stdout.
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Reverse())
        {
            if (!line.StartsWith('{'))
            {
                continue;
            }

            try
            {
                using var document = JsonDocument.Parse(line);
                var root = document.RootElement;
                if (!root.TryGetProperty("type", out var type) || type.GetString() != "result")
                {
                    continue;
                }

                return new ClaudeResult(
                    root.TryGetProperty("is_error", out var isError) && isError.ValueKind == JsonValueKind.True,
                    root.TryGetProperty("session_id", out var session) ? session.GetString() : null,
                    root.TryGetProperty("subtype", out var subtype) ? subtype.GetString() : null,
                    root.TryGetProperty("num_turns", out var turns) && turns.TryGetInt32(out var n) ? n : null,
                    root.TryGetProperty("result", out var result) && result.ValueKind == JsonValueKind.String ? result.GetString() : null);
            }
            catch (JsonException)
            {
            }
        }

        return null;
    }
}

/// <summary>
/// Runs the real Claude Code CLI non-interactively (<c>claude -p</c>, <c>claude -c -p</c>) as a fresh user: its own
/// temporary HOME, and a temporary git project with a CLAUDE.md as the working directory, both kept for the life of
/// this object so <c>-c</c> continues the previous conversation and a second <c>-p</c> starts a new one in the same
/// project. The CLI is kept offline apart from the model endpoint it is given.
/// </summary>
internal sealed class ClaudeCli : IDisposable
{
    /// <summary>A cold first turn takes ~10-20 s on 2 cores with the fast model; this leaves room for a slow CI machine.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(150);

    // Variables of the test host that must not leak into the CLI (its own config, proxies, telemetry, git identity).
    private static readonly string[] ScrubbedPrefixes =
        ["ANTHROPIC_", "CLAUDE_", "DISABLE_", "OTEL_", "MCP_", "XDG_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "GIT_", "NODE_OPTIONS"];

    private readonly string _root;
    private readonly string _artifactsDirectory;
    private int _runs;

    private ClaudeCli(string executable, string root, string artifactsDirectory)
    {
        Executable = executable;
        _root = root;
        _artifactsDirectory = artifactsDirectory;
        HomeDirectory = Path.Combine(root, "home");
        ProjectDirectory = Path.Combine(root, "project");
    }

    public string Executable { get; }

    public string HomeDirectory { get; }

    public string ProjectDirectory { get; }

    /// <summary>The key the CLI sends (x-api-key); the gateway runs open in these tests, llama-server ignores it.</summary>
    public string ApiKey { get; init; } = "sk-e2e-test";

    /// <summary>
    /// Creates the temporary HOME and git project (git init, CLAUDE.md, README.md, one commit). The project's name goes
    /// into both files and <paramref name="description"/> into README.md. Claude Code quotes CLAUDE.md in its first
    /// message and names the project's directory in its system prompt, so each project gets its own prompt.
    /// </summary>
    public static async Task<ClaudeCli> CreateAsync(string artifactsDirectory, string projectName = "widget-service", string description = "Serves widgets over HTTP.")
    {
        var executable = Toolchain.ClaudeCode;
        var root = Directory.CreateTempSubdirectory("llama-gateway-e2e-").FullName;
        var cli = new ClaudeCli(executable, root, artifactsDirectory);
        try
        {
            Directory.CreateDirectory(cli.HomeDirectory);
            Directory.CreateDirectory(cli.ProjectDirectory);
            await File.WriteAllTextAsync(Path.Combine(cli.ProjectDirectory, "CLAUDE.md"),
                $"# {projectName}\n\nA small HTTP service used by the llama-gateway end-to-end tests.\n\n- Build: `make`\n- Test: `make test`\n- Keep answers short.\n");
            await File.WriteAllTextAsync(Path.Combine(cli.ProjectDirectory, "README.md"), $"# {projectName}\n\n{description}\n");
            await cli.GitAsync("init", "-q", "-b", "main");
            await cli.GitAsync("add", "-A");
            await cli.GitAsync("commit", "-q", "-m", "Initial commit");
            return cli;
        }
        catch
        {
            cli.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs <c>claude [-c | --resume SESSION] -p PROMPT --output-format json</c> against <paramref name="baseUrl"/> (the gateway, or
    /// llama-server directly) and waits for it to exit; a run that outlives <paramref name="timeout"/> is killed and
    /// reported as timed out.
    /// </summary>
    public async Task<ClaudeRun> PromptAsync(string baseUrl, string prompt, bool continueConversation = false, TimeSpan? timeout = null, string? resumeSessionId = null)
    {
        var arguments = new List<string>();
        if (continueConversation)
        {
            arguments.Add("-c");
        }

        if (resumeSessionId is not null)
        {
            arguments.AddRange(["--resume", resumeSessionId]);
        }

        arguments.AddRange(["-p", prompt, "--output-format", "json"]);
        var run = Interlocked.Increment(ref _runs);
        var logPath = Path.Combine(_artifactsDirectory, string.Create(CultureInfo.InvariantCulture, $"claude-{run:00}.log"));
        var clock = Stopwatch.StartNew();
        using var process = ChildProcess.Start(Executable, arguments, ProjectDirectory, logPath, Environment(baseUrl), ScrubbedPrefixes);
        var exited = await process.WaitForExitAsync(timeout ?? DefaultTimeout);
        if (!exited)
        {
            process.Kill();
            await process.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        return new ClaudeRun(arguments, exited ? process.ExitCode : -1, !exited, process.StandardOutput, process.StandardError, clock.Elapsed, logPath);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A process still holding a file: the OS temp cleaner will get it.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private Dictionary<string, string> Environment(string baseUrl) => new()
    {
        ["HOME"] = HomeDirectory,
        ["ANTHROPIC_BASE_URL"] = baseUrl,
        ["ANTHROPIC_API_KEY"] = ApiKey,
        // Offline and quiet: no telemetry, error reports, auto-update or other "nonessential" traffic.
        ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1",
        ["DISABLE_AUTOUPDATER"] = "1",
        ["DISABLE_TELEMETRY"] = "1",
        ["DISABLE_ERROR_REPORTING"] = "1",
        ["DISABLE_BUG_COMMAND"] = "1",
        // The CLI's default of 10 retries with back-off turns a broken endpoint into minutes of waiting; fail fast.
        ["CLAUDE_CODE_MAX_RETRIES"] = "2",
        ["NO_PROXY"] = "127.0.0.1,localhost",
        ["no_proxy"] = "127.0.0.1,localhost",
    };

    private async Task GitAsync(params string[] arguments)
    {
        var environment = new Dictionary<string, string>
        {
            ["HOME"] = HomeDirectory,
            ["GIT_CONFIG_NOSYSTEM"] = "1",
            ["GIT_AUTHOR_NAME"] = "E2E Test",
            ["GIT_AUTHOR_EMAIL"] = "e2e@localhost",
            ["GIT_COMMITTER_NAME"] = "E2E Test",
            ["GIT_COMMITTER_EMAIL"] = "e2e@localhost",
        };
        using var git = ChildProcess.Start("git", arguments, ProjectDirectory, logPath: null, environment, ["GIT_"]);
        if (!await git.WaitForExitAsync(TimeSpan.FromSeconds(30)) || git.ExitCode != 0)
        {
            throw new InvalidOperationException($"git {string.Join(' ', arguments)} failed in {ProjectDirectory}: {git.Tail()}");
        }
    }
}
