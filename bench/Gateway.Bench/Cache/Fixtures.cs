using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlamaGateway.Bench.Cache;

/// <summary>
/// The recorded Claude Code request (tests/fixtures/claude-code/turn1-first.json, copied beside the binary): the real
/// system prompt, tool definitions, first-message reminders, environment message and headers the workload reuses.
/// </summary>
internal sealed class ClaudeCodeFixture
{
    private ClaudeCodeFixture(JsonObject body, JsonObject headers)
    {
        Body = body;
        Headers = headers;
    }

    /// <summary>The recorded first-turn body.</summary>
    public JsonObject Body { get; }

    public JsonObject Headers { get; }

    public static string Directory => Path.Combine(AppContext.BaseDirectory, "fixtures", "claude-code");

    public static ClaudeCodeFixture Load(string name = "turn1-first")
    {
        var path = Path.Combine(Directory, name + ".json");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Recorded Claude Code request not found at {path} (it is copied from tests/fixtures/claude-code at build time).");
        }

        var root = JsonNode.Parse(File.ReadAllBytes(path))!.AsObject();
        return new ClaudeCodeFixture(root["body"]!.AsObject(), root["headers"]!.AsObject());
    }

    /// <summary>All recorded model-request bodies (no probes), as UTF-8 JSON.</summary>
    public static IEnumerable<(string Name, byte[] Body)> RecordedBodies()
    {
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.json").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            if (name.StartsWith("probe-", StringComparison.Ordinal))
            {
                continue;
            }

            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            yield return (name, JsonSerializer.SerializeToUtf8Bytes(doc.RootElement.GetProperty("body")));
        }
    }

    public JsonArray SystemBlocks => Body["system"]!.AsArray();

    public JsonArray Tools => Body["tools"]!.AsArray();

    public JsonArray FirstUserBlocks => Body["messages"]![0]!["content"]!.AsArray();

    /// <summary>The mid-conversation <c># Environment</c> system message's text.</summary>
    public string EnvironmentText
    {
        get
        {
            var content = Body["messages"]![1]!["content"]!;
            return content is JsonArray array ? array[0]!["text"]!.GetValue<string>() : content.GetValue<string>();
        }
    }

    public string Header(string name) => Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value?.GetValue<string>() ?? string.Empty;

    /// <summary>The recorded home/project placeholders the workload rewrites per user.</summary>
    public const string RecordedHome = "/tmp/cap/home";
    public const string RecordedProjectDir = "/tmp/proj1";
    public const string RecordedProjectSlug = "-tmp-proj1";
}
