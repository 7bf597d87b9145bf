using System.Diagnostics;
using System.Globalization;
using System.Text;
using LlamaGateway.EndToEnd.Support;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// The team workload with the real CLI: 6 Claude Code users, each in their own repository and HOME, run
/// concurrently against one llama-server with 4 slots and a host-RAM prompt cache scaled to a 14B model's KV size
/// (<c>--cache-ram 170</c> for the tiny model). Each user has a 3-turn conversation, then starts a second one in the same
/// project. The same workload runs twice, each time on a freshly started llama-server: once with the CLI pointed at
/// llama-server itself, once through the gateway. What llama-server re-computed is read from its own /metrics (cross-
/// checked with its log); through the gateway it must be at most 0.8x of direct.
/// </summary>
[Trait("Category", "e2e")]
public sealed class ClaudeCodeSixUsersTests(ITestOutputHelper output)
{
    private const int Slots = 4;

    /// <summary>~8 GiB of prompt cache for a 14B model (~190 KB KV per token) is ~170 MiB for the tiny model (~4 KB).</summary>
    private const int CacheRamMiB = 170;

    private const double MaxRatio = 0.8;

    /// <summary>User i starts its first command i times this after the first user: the shape of the workload, not a wait for anything.</summary>
    private static readonly TimeSpan StaggerPerUser = TimeSpan.FromSeconds(1.5);

    /// <summary>Six users share 2 cores and ~140K tokens of prefill; a turn can queue behind everyone else's cold prompt.</summary>
    private static readonly TimeSpan CliTimeout = TimeSpan.FromMinutes(8);

    private static readonly UserWorkload[] Users =
    [
        new("widget-service", "Serves widgets over HTTP.",
            ["In one sentence, what is this project?", "Which command runs its tests?", "Thanks. Anything else I should know?", "List the files in this project."]),
        new("invoice-parser", "Parses PDF invoices into JSON records.",
            ["What does this repository do?", "How would I build it?", "Is there a test suite?", "Summarize the README for me."]),
        new("weather-cli", "A command-line client for weather forecasts.",
            ["Describe this project briefly.", "Where would a new command go?", "What should I name it?", "Which files are tracked by git here?"]),
        new("chess-engine", "A small chess engine written in C.",
            ["What is this codebase about?", "How do I run the tests?", "Any style rules I should follow?", "What was the last commit?"]),
        new("photo-sorter", "Sorts photos into folders by the date they were taken.",
            ["Give me a one-line summary of this repo.", "What build tool does it use?", "Should answers be long or short here?", "Show me what CLAUDE.md says."]),
        new("budget-tracker", "Tracks household spending in a SQLite database.",
            ["What is this project for?", "What is the test command?", "And the build command?", "Which branch am I on?"]),
    ];

    [Fact]
    public async Task ClaudeCode_SixConcurrentUsersOnFourSlots_GatewayRecomputesAtMostFourFifthsOfDirect()
    {
        const string name = nameof(ClaudeCode_SixConcurrentUsersOnFourSlots_GatewayRecomputesAtMostFourFifthsOfDirect);
        var artifacts = Toolchain.ArtifactsFor(name);
        var measurements = Path.Combine(artifacts, "measurements.txt");

        var direct = await RunLegAsync("direct", throughGateway: false, artifacts);
        Record(measurements, direct.Describe());
        AssertLegSucceeded(direct);

        var gateway = await RunLegAsync("gateway", throughGateway: true, artifacts);
        Record(measurements, gateway.Describe());

        var ratio = (double)gateway.Prefill.RecomputedTokens / direct.Prefill.RecomputedTokens;
        var reasons = gateway.GatewayRequests.Where(r => r.Route == "/v1/messages")
            .GroupBy(r => r.Reason).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}");
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{Users.Length} users x (3 turns + a second conversation), {Slots} slots, --cache-ram {CacheRamMiB}: " +
            $"direct {direct.Prefill.RecomputedTokens:N0} tokens re-computed ({direct.Prefill.Requests.Count} llama-server requests, {direct.Wall.TotalSeconds:0} s), " +
            $"gateway {gateway.Prefill.RecomputedTokens:N0} ({gateway.Prefill.Requests.Count} requests, {gateway.Wall.TotalSeconds:0} s, " +
            $"{gateway.Runs.Count(r => r.Run.Succeeded)}/{Users.Length * 4} CLI runs ok) = {ratio:0.00}x (must be <= {MaxRatio:0.0}x); " +
            $"gateway reasons: {string.Join(", ", reasons)}");
        Record(measurements, summary);
        Measurements.Summarize(artifacts, name, summary);

        AssertLegSucceeded(gateway);
        Assert.True(ratio <= MaxRatio,
            $"Through the gateway llama-server should re-compute at most {MaxRatio:0.0}x of what it re-computes direct: {summary}\n" +
            $"Per-request detail in {measurements}.");
    }

    /// <summary>Starts a fresh llama-server (and the gateway when asked), runs every user's workload concurrently, and measures it.</summary>
    private async Task<LegResult> RunLegAsync(string leg, bool throughGateway, string testArtifacts)
    {
        var artifacts = Path.Combine(testArtifacts, leg);
        await using var server = await LlamaServerFixture.StartAsync(new LlamaServerOptions { Slots = Slots, CacheRamMiB = CacheRamMiB }, artifacts);
        await using var gateway = throughGateway ? await GatewayFixture.StartAsync([server], artifacts) : null;
        var clis = new List<ClaudeCli>();
        try
        {
            for (var user = 0; user < Users.Length; user++)
            {
                var userArtifacts = Path.Combine(artifacts, string.Create(CultureInfo.InvariantCulture, $"user-{user + 1}"));
                Directory.CreateDirectory(userArtifacts);
                clis.Add(await ClaudeCli.CreateAsync(userArtifacts, Users[user].Project, Users[user].Description));
            }

            var target = gateway?.BaseUrl ?? server.BaseUrl;
            var mark = await server.MarkAsync();
            var clock = Stopwatch.StartNew();
            var runs = await Task.WhenAll(clis.Select((cli, user) => RunUserAsync(leg, user, cli, target)));
            var wall = clock.Elapsed;
            var prefill = await server.MeasureSinceAsync(mark, TimeSpan.FromMinutes(2));
            var gatewayRequests = gateway is null ? [] : await GatewayRequestsAsync(gateway, prefill.CompletedRequests);
            return new LegResult(leg, wall, runs.SelectMany(r => r).ToList(), prefill, gatewayRequests, server.LogPath, gateway?.LogPath, server.Tail(15));
        }
        finally
        {
            foreach (var cli in clis)
            {
                cli.Dispose();
            }
        }
    }

    /// <summary>One user's commands in order; stops at the first that fails (the rest would only continue a broken state).</summary>
    private async Task<IReadOnlyList<UserRun>> RunUserAsync(string leg, int user, ClaudeCli cli, string target)
    {
        await Task.Delay(StaggerPerUser * user);
        var prompts = Users[user].Prompts;
        (string Label, string Prompt, bool Continue)[] steps =
        [
            ("conversation 1, turn 1", prompts[0], false),
            ("conversation 1, turn 2", prompts[1], true),
            ("conversation 1, turn 3", prompts[2], true),
            ("conversation 2, turn 1", prompts[3], false),
        ];
        var runs = new List<UserRun>();
        foreach (var (label, prompt, continueConversation) in steps)
        {
            var run = await cli.PromptAsync(target, prompt, continueConversation, CliTimeout);
            runs.Add(new UserRun(user + 1, label, run));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{leg}: user {user + 1} {label}: {(run.Succeeded ? "ok" : "FAILED")} in {run.Duration.TotalSeconds:0.0} s"));
            if (!run.Succeeded)
            {
                break;
            }
        }

        return runs;
    }

    /// <summary>
    /// The gateway logs a request after its response has gone out; wait (bounded) until it has logged one model
    /// request per prompt llama-server ran. Diagnostics only when it does not: the assertions then show the gap.
    /// </summary>
    private async Task<IReadOnlyList<GatewayRequestLog>> GatewayRequestsAsync(GatewayFixture gateway, int llamaRequests)
    {
        try
        {
            await Poll.UntilAsync("the gateway to log every request", TimeSpan.FromSeconds(10), () =>
            {
                var logged = gateway.Requests.Count(r => r.Route is not "/v1/messages/count_tokens");
                return Task.FromResult((logged >= llamaRequests, $"{logged} model requests logged, llama-server ran {llamaRequests}"));
            });
        }
        catch (TimeoutException ex)
        {
            output.WriteLine(ex.Message);
        }

        return gateway.Requests;
    }

    private static void AssertLegSucceeded(LegResult leg)
    {
        var expected = Users.Length * 4;
        var failed = leg.Runs.Where(r => !r.Run.Succeeded).ToList();
        Assert.True(failed.Count == 0 && leg.Runs.Count == expected,
            $"{leg.Name}: {leg.Runs.Count(r => r.Run.Succeeded)} of {expected} CLI runs succeeded; failed:\n" +
            string.Join("\n", failed.Select(r => $"user {r.User} {r.Label}: {r.Run.Describe()}")) +
            $"\nllama-server log {leg.LlamaServerLog} ends:\n{leg.LlamaServerTail}" +
            (leg.GatewayLog is null ? string.Empty : $"\ngateway log {leg.GatewayLog}"));

        foreach (var user in leg.Runs.GroupBy(r => r.User))
        {
            var sessions = user.Select(r => r.Run.Result?.SessionId).ToList();
            Assert.True(sessions[0] is not null && sessions[1] == sessions[0] && sessions[2] == sessions[0] && sessions[3] != sessions[0],
                $"{leg.Name}: user {user.Key}'s turns 2 and 3 (claude -c) should continue turn 1's session and the second conversation should be a new one; sessions: {string.Join(", ", sessions)}");
        }

        Measurements.AssertConsistent(leg.Name, leg.Prefill, leg.Prefill.ToString());
        Assert.True(leg.Prefill.RecomputedTokens >= Users.Length * ClaudeCodeThroughGatewayTests.MinimumColdPromptTokens,
            $"{leg.Name}: each user's first turn alone is a cold ~11K-token prompt, but llama-server re-computed only {leg.Prefill.RecomputedTokens} in all: {leg.Prefill}");

        if (leg.GatewayLog is null)
        {
            return;
        }

        // The CLI retries, and falls back from streaming to a plain request, so a run can succeed over a broken relay:
        // every request the gateway handled must have been served the first time.
        var unserved = leg.GatewayRequests.Where(r => !r.Served).ToList();
        Assert.True(unserved.Count == 0,
            $"The gateway did not serve {unserved.Count} of its {leg.GatewayRequests.Count} requests (see {leg.GatewayLog}):\n  {string.Join("\n  ", unserved)}");

        // Pinned: the gateway chose an id_slot for every model request, and llama-server says it ran each one by id.
        var messages = leg.GatewayRequests.Where(r => r.Route == "/v1/messages").ToList();
        Assert.True(messages.Count == leg.Prefill.CompletedRequests,
            $"The gateway logged {messages.Count} /v1/messages requests but llama-server ran {leg.Prefill.CompletedRequests} prompts to the end (see {leg.GatewayLog}, {leg.LlamaServerLog})");

        // Every prompt llama-server cancelled is one the gateway paused for a shorter prompt (and then sent again).
        var pauses = messages.Sum(r => PausesIn(r.Waited));
        Assert.True(leg.Prefill.CancelledRequests <= pauses,
            $"llama-server cancelled {leg.Prefill.CancelledRequests} prompts but the gateway logged only {pauses} pauses (see {leg.GatewayLog}, {leg.LlamaServerLog})");
        var unpinned = messages.Where(r => r.SlotNumber is null).ToList();
        Assert.True(unpinned.Count == 0, $"Every /v1/messages request should be pinned to a slot; these were not:\n  {string.Join("\n  ", unpinned)}");
        var notById = leg.Prefill.Requests.Where(r => r.Selection != "id").ToList();
        Assert.True(notById.Count == 0, $"llama-server should have run every prompt on the slot given by id_slot; these it chose itself:\n  {string.Join("\n  ", notById)}");
    }

    /// <summary>K of the request log's "paused N ms for shorter prompts (Kx)"; 0 when the request was not paused.</summary>
    private static int PausesIn(string? waited)
    {
        const string Marker = " for shorter prompts (";
        var at = waited?.IndexOf(Marker, StringComparison.Ordinal) ?? -1;
        if (at < 0)
        {
            return 0;
        }

        var start = at + Marker.Length;
        var end = waited!.IndexOf("x)", start, StringComparison.Ordinal);
        return int.Parse(waited.AsSpan(start, end - start), System.Globalization.CultureInfo.InvariantCulture);
    }

    private void Record(string path, string text)
    {
        output.WriteLine(text);
        File.AppendAllText(path, text + "\n");
    }

    private sealed record UserWorkload(string Project, string Description, string[] Prompts);

    private sealed record UserRun(int User, string Label, ClaudeRun Run);

    private sealed record LegResult(string Name, TimeSpan Wall, IReadOnlyList<UserRun> Runs, PrefillReport Prefill,
        IReadOnlyList<GatewayRequestLog> GatewayRequests, string LlamaServerLog, string? GatewayLog, string LlamaServerTail)
    {
        public string Describe()
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"== {Name}: {Runs.Count(r => r.Run.Succeeded)}/{Runs.Count} CLI runs succeeded in {Wall.TotalSeconds:0.0} s; {Prefill}");
            foreach (var run in Runs)
            {
                text.Append(CultureInfo.InvariantCulture,
                    $"\n  user {run.User} {run.Label}: exit {run.Run.ExitCode}{(run.Run.TimedOut ? " (timed out)" : string.Empty)} in {run.Run.Duration.TotalSeconds:0.0} s, session {run.Run.Result?.SessionId}");
            }

            var selections = Prefill.Requests.GroupBy(r => r.Selection).Select(g => $"{g.Key} {g.Count()}");
            text.Append("\n  llama-server slot selection: ").Append(string.Join(", ", selections));
            foreach (var request in GatewayRequests)
            {
                text.Append("\n  gateway: ").Append(request);
            }

            return text.ToString();
        }
    }
}
