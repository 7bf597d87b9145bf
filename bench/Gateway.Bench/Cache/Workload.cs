using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlamaGateway.Bench.Cache;

/// <summary>What a request is, for reporting: main turns (first / follow-up), subagent turns, and side requests.</summary>
internal enum RequestKind
{
    MainFirst,
    MainFollowUp,
    Subagent,
    Quota,
    Title,
    Topic,
    CountTokens,
}

/// <summary>One pre-built request of the replay; identical bytes for every variant (only the target differs).</summary>
internal sealed class PlannedRequest
{
    public required int Id { get; init; }
    public required int User { get; init; }
    public required int Conversation { get; init; }
    public required RequestKind Kind { get; init; }

    /// <summary>Index of the request within its (main or subagent) conversation, from 1.</summary>
    public required int Turn { get; init; }

    public required string Path { get; init; }
    public required bool Stream { get; init; }
    public required byte[] Body { get; init; }
    public required string SessionId { get; init; }
    public required string UserAgent { get; init; }
    public required string BillingLine { get; init; }

    public bool IsModelRequest => Kind != RequestKind.CountTokens;
}

internal abstract record Step;

/// <summary>Send <paramref name="Request"/> and, at the same moment, <paramref name="Alongside"/> (side requests); wait for all.</summary>
internal sealed record SendStep(PlannedRequest Request, IReadOnlyList<PlannedRequest> Alongside) : Step;

/// <summary>Fire a burst (count_tokens at session start) without waiting; it is joined at the conversation's end.</summary>
internal sealed record BurstStep(IReadOnlyList<PlannedRequest> Requests) : Step;

internal sealed record JoinBurstsStep : Step;

/// <summary>The simulated user reading, typing, or a tool running: part of the workload.</summary>
internal sealed record ThinkStep(TimeSpan Duration) : Step;

internal sealed record UserScript(int User, string Name, TimeSpan StartOffset, IReadOnlyList<Step> Steps)
{
    public IEnumerable<PlannedRequest> Requests => Steps.SelectMany(s => s switch
    {
        SendStep send => send.Alongside.Prepend(send.Request),
        BurstStep burst => burst.Requests,
        _ => [],
    });
}

internal sealed record WorkloadOptions
{
    public int Users { get; init; } = 6;
    public int Conversations { get; init; } = 3;

    /// <summary>Main-conversation requests per conversation (each one model turn: tool call, tool result, answer...).</summary>
    public int Turns { get; init; } = 6;

    /// <summary>A topic side request (haiku, no tools) rides along with every Nth main turn; 0 disables them.</summary>
    public int SideEvery { get; init; } = 3;

    /// <summary>Requests of the subagent each conversation runs (via the Agent tool); 0 disables subagents.</summary>
    public int SubagentRequests { get; init; } = 2;

    /// <summary>count_tokens requests fired at each session start.</summary>
    public int CountTokensBurst { get; init; } = 20;

    /// <summary>Multiplies every think time (0 = no think time at all).</summary>
    public double ThinkScale { get; init; } = 1.0;

    public int Seed { get; init; } = 42;
}

/// <summary>
/// Builds simulated Claude Code users from the recorded request: each user works in their own project (memory path and
/// cwd differ early in the prompt), runs several conversations (each a new session whose cc_version suffix differs),
/// grows them with tool_use/tool_result turns, spawns a subagent, and sends the side requests Claude Code sends.
/// </summary>
internal static class WorkloadBuilder
{
    private const string MainModel = "claude-opus-5-5";
    private const string SmallModel = "claude-haiku-4-5";
    private const string MessagesPath = "/v1/messages?beta=true";
    private const string CountTokensPath = "/v1/messages/count_tokens?beta=true";

    // (version, entrypoint, sends cch per request, cc_workload tag): the forms seen from real clients.
    private static readonly (string Version, string Entrypoint, bool Cch, string? Workload)[] Builds =
    [
        ("2.1.328", "sdk-cli", false, null),
        ("2.1.39", "cli", true, null),
        ("2.1.63", "sdk-cli", true, null),
        ("2.1.328", "cli", false, null),
        ("2.1.177", "sdk-cli", true, null),
        ("2.1.63", "cli", true, "agent"),
    ];

    private static readonly string[] SubagentTools = ["Bash", "Read", "ToolSearch", "Write"];

    public static IReadOnlyList<UserScript> Build(WorkloadOptions options, ClaudeCodeFixture fixture)
    {
        var nextId = 0;
        var scripts = new List<UserScript>();
        for (var u = 0; u < options.Users; u++)
        {
            // Not HashCode.Combine: it is seeded per process, and the replay must be the same on every run.
            var rng = new Random(unchecked((options.Seed * 1_000_003) + (u * 7919)) & 0x7FFFFFFF);
            var user = new UserProfile(u, Builds[u % Builds.Length], rng);
            var steps = new List<Step>();
            for (var c = 1; c <= options.Conversations; c++)
            {
                if (c > 1)
                {
                    steps.Add(Think(rng, options, 8, 15));
                }

                new ConversationBuilder(options, fixture, user, c, rng, () => nextId++).Build(steps);
            }

            var start = TimeSpan.FromSeconds(rng.NextDouble() * 15 * options.ThinkScale);
            scripts.Add(new UserScript(u, user.Name, start, steps));
        }

        return scripts;
    }

    internal static ThinkStep Think(Random rng, WorkloadOptions options, double min, double max) =>
        new(TimeSpan.FromSeconds((min + (rng.NextDouble() * (max - min))) * options.ThinkScale));

    private sealed class UserProfile
    {
        public UserProfile(int index, (string Version, string Entrypoint, bool Cch, string? Workload) build, Random rng)
        {
            Index = index;
            Name = $"dev{index + 1}";
            Project = $"{(index % 2 == 0 ? "shop" : "billing")}-{(char)('a' + index)}";
            Home = $"/home/{Name}";
            ProjectDir = $"{Home}/src/{Project}";
            Slug = ProjectDir.Replace('/', '-');
            Version = build.Version;
            Entrypoint = build.Entrypoint;
            SendsCch = build.Cch;
            Workload = build.Workload;
            DeviceId = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Name + "-device")));
            ClaudeMd = $"# {Project}\n\n" + Text.Prose(rng, 700 + rng.Next(600));
        }

        public int Index { get; }
        public string Name { get; }
        public string Project { get; }
        public string Home { get; }
        public string ProjectDir { get; }
        public string Slug { get; }
        public string Version { get; }
        public string Entrypoint { get; }
        public bool SendsCch { get; }
        public string? Workload { get; }
        public string DeviceId { get; }
        public string ClaudeMd { get; }

        public string UserAgent => $"claude-cli/{Version} (external, {Entrypoint})";

        public string Localize(string text) => text
            .Replace(ClaudeCodeFixture.RecordedHome, Home, StringComparison.Ordinal)
            .Replace(ClaudeCodeFixture.RecordedProjectSlug, Slug, StringComparison.Ordinal)
            .Replace(ClaudeCodeFixture.RecordedProjectDir, ProjectDir, StringComparison.Ordinal);

        /// <summary>The billing line as this user's build sends it: the cc_version suffix comes from the first user
        /// message (fixed per conversation), cch (when sent) changes on every request.</summary>
        public string BillingLine(string firstUserText, Random rng)
        {
            var suffix = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(firstUserText)))[..3];
            var line = $"x-anthropic-billing-header: cc_version={Version}.{suffix}; cc_entrypoint={Entrypoint};";
            if (SendsCch)
            {
                line += $" cch={Text.Hex(rng, 5)};";
            }

            if (Workload is not null)
            {
                line += $" cc_workload={Workload};";
            }

            return line;
        }
    }

    private sealed class ConversationBuilder(WorkloadOptions options, ClaudeCodeFixture fixture, UserProfile user, int conversation, Random rng, Func<int> nextId)
    {
        private readonly List<JsonObject> _messages = [];
        private readonly string _sessionId = Text.Guid(rng).ToString();
        private string _firstUserText = string.Empty;
        private string _lastHumanPrompt = string.Empty;

        public void Build(List<Step> steps)
        {
            // Session start: the quota probe (awaited), a burst of count_tokens calls (not awaited).
            steps.Add(new SendStep(Quota(), []));
            if (options.CountTokensBurst > 0)
            {
                steps.Add(new BurstStep([.. Enumerable.Range(0, options.CountTokensBurst).Select(CountTokens)]));
            }

            _lastHumanPrompt = Text.HumanPrompt(rng);
            _messages.Add(FirstUserMessage(_lastHumanPrompt));
            _messages.Add(new JsonObject { ["role"] = "system", ["content"] = user.Localize(fixture.EnvironmentText) });

            var subagentAt = options.SubagentRequests > 0 ? Math.Max(2, (options.Turns + 1) / 2) : -1;
            for (var turn = 1; turn <= options.Turns; turn++)
            {
                var request = Main(turn);
                var alongside = new List<PlannedRequest>();
                if (turn == 1)
                {
                    alongside.Add(Title());
                }
                else if (options.SideEvery > 0 && turn % options.SideEvery == 0)
                {
                    alongside.Add(Topic());
                }

                steps.Add(new SendStep(request, alongside));
                if (turn == options.Turns)
                {
                    break;
                }

                // The model's (scripted) reply and what comes back: a tool result quickly, or the user's next prompt.
                if (turn + 1 == subagentAt)
                {
                    RunSubagent(steps);
                }
                else if (turn % 4 == 0)
                {
                    _messages.Add(Assistant(new JsonObject { ["type"] = "text", ["text"] = Text.Prose(rng, 300 + rng.Next(600)) }));
                    _lastHumanPrompt = Text.HumanPrompt(rng);
                    _messages.Add(new JsonObject { ["role"] = "user", ["content"] = new JsonArray(TextBlock(_lastHumanPrompt)) });
                    steps.Add(Think(rng, options, 4, 12));
                }
                else
                {
                    var (toolUse, result) = ToolTurn(turn % 4, mainSession: true);
                    _messages.Add(Assistant(toolUse));
                    _messages.Add(ToolResult(toolUse, result));
                    steps.Add(Think(rng, options, 0.3, 1.5));
                }
            }

            steps.Add(new JoinBurstsStep());
        }

        private JsonObject FirstUserMessage(string prompt)
        {
            var blocks = new JsonArray();
            var recorded = fixture.FirstUserBlocks;
            for (var i = 0; i < recorded.Count; i++)
            {
                var text = recorded[i]!["text"]!.GetValue<string>();
                if (i == recorded.Count - 1)
                {
                    text = prompt;
                }
                else if (text.Contains("CLAUDE.md", StringComparison.Ordinal))
                {
                    // Per-project instructions; the recorded file holds just a title.
                    text = user.Localize(text).Replace("# Project one", user.ClaudeMd, StringComparison.Ordinal);
                }
                else if (text.Contains("# gitStatus", StringComparison.Ordinal))
                {
                    // A snapshot taken at session start: differs between this user's sessions.
                    var status = new StringBuilder();
                    for (var f = 0; f < 2 + rng.Next(5); f++)
                    {
                        status.Append(rng.Next(2) == 0 ? " M " : "?? ").Append(Text.FileName(rng)).Append('\n');
                    }

                    text = text.Replace("?? CLAUDE.md\n?? notes.txt\n", status.ToString(), StringComparison.Ordinal)
                        .Replace("Current branch: master", $"Current branch: feature/{Text.Identifier(rng).ToLowerInvariant()}", StringComparison.Ordinal);
                }

                blocks.Add(TextBlock(user.Localize(text)));
            }

            _firstUserText = string.Concat(blocks.Select(b => b!["text"]!.GetValue<string>()));
            return new JsonObject { ["role"] = "user", ["content"] = blocks };
        }

        private PlannedRequest Main(int turn)
        {
            var billing = user.BillingLine(_firstUserText, rng);
            var system = new JsonArray(TextBlock(billing));
            for (var i = 1; i < fixture.SystemBlocks.Count; i++)
            {
                var block = fixture.SystemBlocks[i]!.DeepClone().AsObject();
                block["text"] = user.Localize(block["text"]!.GetValue<string>());
                system.Add(block);
            }

            var messages = new JsonArray();
            for (var i = 0; i < _messages.Count; i++)
            {
                var message = _messages[i].DeepClone().AsObject();
                if (i == 1 && turn == 1)
                {
                    // The first turn sends the environment message as a block array, later turns as a string (as recorded).
                    message["content"] = new JsonArray(TextBlock(message["content"]!.GetValue<string>()));
                }

                messages.Add(message);
            }

            if (turn > 1)
            {
                MarkCacheControl(messages);
            }

            var body = new JsonObject
            {
                ["model"] = MainModel,
                ["messages"] = messages,
                ["system"] = system,
                ["tools"] = fixture.Tools.DeepClone(),
                ["metadata"] = Metadata(),
                ["max_tokens"] = 128000,
                ["thinking"] = new JsonObject { ["type"] = "adaptive", ["display"] = "omitted" },
                ["context_management"] = fixture.Body["context_management"]!.DeepClone(),
                ["output_config"] = fixture.Body["output_config"]!.DeepClone(),
                ["stream"] = true,
            };
            return Planned(turn == 1 ? RequestKind.MainFirst : RequestKind.MainFollowUp, turn, MessagesPath, stream: true, body, billing);
        }

        private void RunSubagent(List<Step> steps)
        {
            var prompt = $"Find every caller of {Text.Identifier(rng)} under {user.ProjectDir}/src and report file:line for each, plus how each handles a null result. Do not modify files.";
            var agentUse = new JsonObject
            {
                ["type"] = "tool_use",
                ["id"] = Text.ToolUseId(rng),
                ["name"] = "Agent",
                ["input"] = new JsonObject { ["description"] = "Find callers", ["prompt"] = prompt, ["subagent_type"] = "Explore" },
            };
            _messages.Add(Assistant(agentUse));

            // The subagent: its own system prompt (no per-session reminders), fewer tools, its own growing chat.
            var subMessages = new List<JsonObject> { new() { ["role"] = "user", ["content"] = new JsonArray(TextBlock(prompt)) } };
            var explorePrompt = ExplorePrompt();
            var tools = new JsonArray();
            foreach (var tool in fixture.Tools)
            {
                if (SubagentTools.Contains(tool!["name"]!.GetValue<string>()))
                {
                    tools.Add(tool.DeepClone());
                }
            }

            for (var j = 1; j <= options.SubagentRequests; j++)
            {
                var billing = user.BillingLine(prompt, rng);
                var messages = new JsonArray([.. subMessages.Select(m => m.DeepClone())]);
                if (j > 1)
                {
                    MarkCacheControl(messages);
                }

                var body = new JsonObject
                {
                    ["model"] = SmallModel,
                    ["messages"] = messages,
                    ["system"] = new JsonArray(TextBlock(billing), fixture.SystemBlocks[1]!.DeepClone(), TextBlock(explorePrompt, cache: true)),
                    ["tools"] = tools.DeepClone(),
                    ["metadata"] = Metadata(),
                    ["max_tokens"] = 32000,
                    ["stream"] = true,
                };
                steps.Add(new SendStep(Planned(RequestKind.Subagent, j, MessagesPath, stream: true, body, billing), []));
                if (j < options.SubagentRequests)
                {
                    var (toolUse, result) = ToolTurn(j % 2 == 1 ? 2 : 1, mainSession: false);
                    subMessages.Add(Assistant(toolUse));
                    subMessages.Add(ToolResult(toolUse, result));
                    steps.Add(Think(rng, options, 0.3, 1.0));
                }
            }

            _messages.Add(ToolResult(agentUse, Text.Prose(rng, 900 + rng.Next(600))));
            steps.Add(Think(rng, options, 0.2, 0.6));
        }

        private string ExplorePrompt()
        {
            var sb = new StringBuilder();
            sb.Append("You are a read-only code search agent working for a coding assistant. Locate code, read it, and report precisely what you found; never edit files or run commands that change state.\n\n");
            sb.Append("Guidelines:\n- Search broadly first (names, string literals, configuration keys), then narrow down.\n- Quote file paths as absolute paths with line numbers.\n- Keep the final report short: a list of findings, then open questions.\n\n");
            sb.Append(Text.Prose(rng, 1500));
            sb.Append("\n\nNotes:\n").Append(user.Localize(fixture.EnvironmentText)[..Math.Min(700, fixture.EnvironmentText.Length)]);
            return sb.ToString();
        }

        private (JsonObject ToolUse, string Result) ToolTurn(int kind, bool mainSession)
        {
            var file = $"{user.ProjectDir}/{Text.FileName(rng)}";
            return kind switch
            {
                1 => (ToolUse("Read", new JsonObject { ["file_path"] = file }), Text.SourceFile(rng, 1500 + rng.Next(2500))),
                2 => (ToolUse("Bash", new JsonObject
                {
                    ["command"] = rng.Next(2) == 0 ? "dotnet test --no-build 2>&1 | tail -40" : $"grep -rn \"{Text.Identifier(rng)}\" src",
                    ["description"] = mainSession ? "Run the tests" : "Search for callers",
                }), Text.CommandOutput(rng, 600 + rng.Next(1400))),
                _ => (ToolUse("Edit", new JsonObject
                {
                    ["file_path"] = file,
                    ["old_string"] = $"return {Text.Identifier(rng)}(value);",
                    ["new_string"] = $"return await {Text.Identifier(rng)}Async(value, cancellationToken);",
                }), $"The file {file} has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n" + Text.SourceFile(rng, 400, numbered: true)),
            };
        }

        private JsonObject ToolUse(string name, JsonObject input) => new()
        {
            ["type"] = "tool_use",
            ["id"] = Text.ToolUseId(rng),
            ["name"] = name,
            ["input"] = input,
        };

        private static JsonObject Assistant(JsonObject block) => new() { ["role"] = "assistant", ["content"] = new JsonArray(block) };

        private static JsonObject ToolResult(JsonObject toolUse, string content) => new()
        {
            ["role"] = "user",
            ["content"] = new JsonArray(new JsonObject
            {
                ["tool_use_id"] = toolUse["id"]!.GetValue<string>(),
                ["type"] = "tool_result",
                ["content"] = content,
            }),
        };

        private PlannedRequest Quota()
        {
            var body = new JsonObject
            {
                ["model"] = MainModel,
                ["max_tokens"] = 1,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "quota" }),
                ["metadata"] = Metadata(),
            };
            return Planned(RequestKind.Quota, 0, MessagesPath, stream: false, body, string.Empty);
        }

        private PlannedRequest CountTokens(int index)
        {
            var tools = fixture.Tools;
            var body = new JsonObject
            {
                ["model"] = MainModel,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "foo" }),
                ["tools"] = new JsonArray(tools[index % tools.Count]!.DeepClone()),
            };
            return Planned(RequestKind.CountTokens, index, CountTokensPath, stream: false, body, string.Empty);
        }

        private PlannedRequest Title()
        {
            var billing = user.BillingLine(_lastHumanPrompt, rng);
            var body = new JsonObject
            {
                ["model"] = SmallModel,
                ["max_tokens"] = 512,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = _lastHumanPrompt }),
                ["system"] = new JsonArray(TextBlock(billing), TextBlock("Summarize this coding conversation in under 50 characters.\nCapture the main task, key files, problems addressed, and current status. Reply with the title only.")),
                ["metadata"] = Metadata(),
                ["stream"] = false,
            };
            return Planned(RequestKind.Title, 0, MessagesPath, stream: false, body, billing);
        }

        private PlannedRequest Topic()
        {
            var billing = user.BillingLine(_lastHumanPrompt, rng);
            var body = new JsonObject
            {
                ["model"] = SmallModel,
                ["max_tokens"] = 128,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = _lastHumanPrompt }),
                ["system"] = new JsonArray(TextBlock(billing), TextBlock("Analyze if this message indicates a new conversation topic. If it does, extract a 2-3 word title. Format your response as a JSON object with two fields: 'isNewTopic' (boolean) and 'title' (string, or null if isNewTopic is false).")),
                ["metadata"] = Metadata(),
                ["stream"] = true,
            };
            return Planned(RequestKind.Topic, 0, MessagesPath, stream: true, body, billing);
        }

        private JsonObject Metadata() => new()
        {
            ["user_id"] = JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["device_id"] = user.DeviceId,
                ["account_uuid"] = string.Empty,
                ["session_id"] = _sessionId,
            }),
        };

        private PlannedRequest Planned(RequestKind kind, int turn, string path, bool stream, JsonObject body, string billing) => new()
        {
            Id = nextId(),
            User = user.Index,
            Conversation = conversation,
            Kind = kind,
            Turn = turn,
            Path = path,
            Stream = stream,
            Body = JsonSerializer.SerializeToUtf8Bytes(body),
            SessionId = _sessionId,
            UserAgent = user.UserAgent,
            BillingLine = billing,
        };

        private static JsonObject TextBlock(string text, bool cache = false)
        {
            var block = new JsonObject { ["type"] = "text", ["text"] = text };
            if (cache)
            {
                block["cache_control"] = new JsonObject { ["type"] = "ephemeral" };
            }

            return block;
        }

        /// <summary>Claude Code moves its cache_control marker to the newest block every turn.</summary>
        private static void MarkCacheControl(JsonArray messages)
        {
            foreach (var message in messages)
            {
                if (message!["content"] is JsonArray blocks)
                {
                    foreach (var block in blocks)
                    {
                        block!.AsObject().Remove("cache_control");
                    }
                }
            }

            if (messages[^1]!["content"] is JsonArray last && last.Count > 0)
            {
                last[^1]!["cache_control"] = new JsonObject { ["type"] = "ephemeral" };
            }
        }
    }
}

internal static class WorkloadSummary
{
    public static string Describe(IReadOnlyList<UserScript> scripts)
    {
        var requests = scripts.SelectMany(s => s.Requests).ToList();
        var byKind = requests.GroupBy(r => r.Kind).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}");
        var bytes = requests.Where(r => r.Kind is RequestKind.MainFirst or RequestKind.MainFollowUp).Select(r => r.Body.Length).DefaultIfEmpty(0).ToList();
        return string.Create(CultureInfo.InvariantCulture,
            $"{requests.Count} requests ({string.Join(", ", byKind)}); main-turn bodies {bytes.Min() / 1024} to {bytes.Max() / 1024} KB");
    }
}
