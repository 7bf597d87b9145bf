using System.Text.RegularExpressions;
using LlamaGateway.EndToEnd.Support;
using LlamaGateway.Pipeline;
using LlamaGateway.Translation;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// The gateway's field table (<see cref="FieldPolicy"/>, docs/fields.md) against the source of the llama-server the
/// toolchain builds: every request field llama-server's completion schema and chat parser read must be in the table,
/// so a llama.cpp upgrade that adds one (as <c>n_cmpl</c> was added, which fans a request out over other slots) fails
/// here until someone decides whether the gateway owns it.
/// </summary>
[Trait("Category", "e2e")]
public sealed partial class FieldPolicyCoverageTests
{
    [Fact]
    public void Schema_EveryFieldLlamaServerReads_IsInBothOpenAiTables()
    {
        var schema = Source("server-schema.cpp");
        var names = FieldNames().Matches(schema).Select(m => m.Groups["name"].Value)
            .Concat(Aliases().Matches(schema).Select(m => m.Groups["name"].Value))
            .Distinct(StringComparer.Ordinal)
            .ToList();

        // A real read of the schema, not an empty match: it has dozens of fields, these among them.
        Assert.True(names.Count >= 60, $"only {names.Count} fields found in server-schema.cpp");
        Assert.Contains("n_cmpl", names);
        Assert.Contains("n_predict", names);
        foreach (var route in new[] { ApiRoute.ChatCompletions, ApiRoute.Completion })
        {
            var known = FieldPolicy.Rules(route).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
            Assert.True(names.All(known.Contains), $"{route}: not in FieldPolicy: {string.Join(", ", names.Where(n => !known.Contains(n)))}");
        }
    }

    [Fact]
    public void ChatParser_EveryBodyFieldItReads_IsInTheChatTable()
    {
        var common = Source("server-common.cpp");
        var start = common.IndexOf("json oaicompat_chat_params_parse(", StringComparison.Ordinal);
        Assert.True(start >= 0, "oaicompat_chat_params_parse not found in server-common.cpp");
        var end = common.IndexOf("\n}\n", start, StringComparison.Ordinal);
        var parser = common[start..end];
        var names = BodyReads().Matches(parser).Select(m => m.Groups["name"].Value).Distinct(StringComparer.Ordinal).ToList();

        Assert.Contains("tools", names);
        Assert.Contains("messages", names);
        var known = FieldPolicy.Rules(ApiRoute.ChatCompletions).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        Assert.True(names.All(known.Contains), $"not in FieldPolicy: {string.Join(", ", names.Where(n => !known.Contains(n)))}");
    }

    [Fact]
    public void CompletionHandler_IdSlotRead_IsOwned()
    {
        var context = Source("server-context.cpp");

        Assert.Contains("json_value(data, \"id_slot\"", context, StringComparison.Ordinal);
        Assert.Equal(FieldOwnership.Replaced, FieldPolicy.Rules(ApiRoute.Completion).Single(r => r.Name == "id_slot").Ownership);
        Assert.Equal(FieldOwnership.Replaced, FieldPolicy.Rules(ApiRoute.ChatCompletions).Single(r => r.Name == "id_slot").Ownership);
    }

    /// <summary>A file of tools/server in the llama.cpp tree the toolchain's llama-server was built from, without its <c>#if 0</c> blocks and comments.</summary>
    private static string Source(string file)
    {
        // LLAMA_SERVER is <tree>/build/bin/llama-server.
        var tree = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Toolchain.LlamaServer)!, "..", ".."));
        var path = Path.Combine(tree, "tools", "server", file);
        Assert.True(File.Exists(path), $"{path} is missing: the llama.cpp source scripts/setup.sh builds llama-server from");
        return LineComments().Replace(DisabledBlocks().Replace(File.ReadAllText(path), string.Empty), string.Empty);
    }

    // Top-level fields only: a nested field's subfields (stream_options.include_usage) are added with add_subfield.
    [GeneratedRegex(@"\badd\(\(new field_(?:num(?:<[^>]*>)?|bool|str|json|nested)\(""(?<name>[a-z_]+)""")]
    private static partial Regex FieldNames();

    [GeneratedRegex("""add_alias\("(?<name>[a-z_]+)"\)""")]
    private static partial Regex Aliases();

    [GeneratedRegex(@"(?:json_value\(body,\s*|body\.contains\(|body\.at\()""(?<name>[a-z_]+)""")]
    private static partial Regex BodyReads();

    [GeneratedRegex(@"#if 0.*?#endif", RegexOptions.Singleline)]
    private static partial Regex DisabledBlocks();

    [GeneratedRegex(@"^\s*//.*$", RegexOptions.Multiline)]
    private static partial Regex LineComments();
}
