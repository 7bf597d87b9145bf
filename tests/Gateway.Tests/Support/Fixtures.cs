using System.Text.Json;

namespace LlamaGateway.Tests.Support;

/// <summary>Request bodies recorded from the real Claude Code CLI (scripts/capture-claude-code.py).</summary>
internal static class Fixtures
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "fixtures", "claude-code");

    public static IEnumerable<string> RecordedRequestNames =>
        System.IO.Directory.EnumerateFiles(Directory, "*.json")
            .Where(f => !Path.GetFileName(f).StartsWith("probe-", StringComparison.Ordinal))
            .Select(Path.GetFileNameWithoutExtension)
            .Order()!;

    /// <summary>Every recorded request, with system-message folding on and off.</summary>
    public static Xunit.TheoryData<string, bool> RecordedRequestsWithFold()
    {
        var data = new Xunit.TheoryData<string, bool>();
        foreach (var name in RecordedRequestNames)
        {
            data.Add(name, true);
            data.Add(name, false);
        }

        return data;
    }

    /// <summary>The recorded request body, as the UTF-8 JSON Claude Code sent.</summary>
    public static byte[] RecordedBody(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Directory, name + ".json")));
        return JsonSerializer.SerializeToUtf8Bytes(doc.RootElement.GetProperty("body"));
    }
}
