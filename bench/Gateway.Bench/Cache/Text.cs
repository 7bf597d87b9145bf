using System.Globalization;
using System.Text;

namespace LlamaGateway.Bench.Cache;

/// <summary>Deterministic filler that tokenizes like real coding-session content: source files, tool output, prose.</summary>
internal static class Text
{
    private static readonly string[] Nouns =
    [
        "Order", "Invoice", "Customer", "Session", "Token", "Cache", "Request", "Response", "Payment", "Ledger", "Account",
        "Report", "Schedule", "Queue", "Message", "Channel", "Buffer", "Record", "Profile", "Config", "Metric", "Batch",
        "Shipment", "Inventory", "Catalog", "Price", "Tenant", "Document", "Snapshot", "Event",
    ];

    private static readonly string[] Verbs =
    [
        "Load", "Save", "Validate", "Parse", "Render", "Compute", "Resolve", "Publish", "Handle", "Build", "Merge",
        "Refresh", "Apply", "Fetch", "Update", "Delete", "Create", "Normalize", "Dispatch", "Schedule",
    ];

    private static readonly string[] Types = ["string", "int", "long", "bool", "decimal", "DateTimeOffset", "Guid", "TimeSpan"];

    private static readonly string[] Words =
    [
        "the", "handler", "now", "returns", "early", "when", "input", "is", "empty", "and", "logs", "a", "warning", "so",
        "callers", "see", "why", "test", "covers", "retry", "path", "with", "backoff", "of", "three", "attempts", "which",
        "matches", "existing", "behaviour", "in", "service", "layer", "I", "also", "renamed", "field", "to", "make", "its",
        "purpose", "clear", "build", "passes", "tests", "green", "except", "one", "flaky", "integration", "case", "that",
        "depends", "on", "clock", "will", "look", "at", "next", "change", "keeps", "public", "API", "stable",
    ];

    public static string Identifier(Random rng) => Verbs[rng.Next(Verbs.Length)] + Nouns[rng.Next(Nouns.Length)];

    public static string FileName(Random rng) => $"src/{Nouns[rng.Next(Nouns.Length)]}s/{Nouns[rng.Next(Nouns.Length)]}{(rng.Next(3) == 0 ? "Service" : rng.Next(2) == 0 ? "Handler" : "Store")}.cs";

    /// <summary>A C#-looking source file of about <paramref name="chars"/> characters, with Read-style line numbers.</summary>
    public static string SourceFile(Random rng, int chars, bool numbered = true)
    {
        var sb = new StringBuilder(chars + 200);
        var line = 1;
        var noun = Nouns[rng.Next(Nouns.Length)];
        Append($"using System;");
        Append($"using System.Threading.Tasks;");
        Append(string.Empty);
        Append($"namespace Contoso.{noun}s;");
        Append(string.Empty);
        Append($"public sealed class {noun}{(rng.Next(2) == 0 ? "Service" : "Handler")}");
        Append("{");
        while (sb.Length < chars)
        {
            var method = Identifier(rng);
            var type = Types[rng.Next(Types.Length)];
            var arg = Nouns[rng.Next(Nouns.Length)];
            switch (rng.Next(4))
            {
                case 0:
                    Append($"    private readonly Dictionary<{type}, {arg}> _{char.ToLowerInvariant(arg[0])}{arg[1..]}s = new();");
                    break;
                case 1:
                    Append($"    public async Task<{arg}?> {method}Async({arg}Id id, CancellationToken cancellationToken)");
                    Append("    {");
                    Append($"        var {char.ToLowerInvariant(arg[0])}{arg[1..]} = await _store.Find{arg}Async(id, cancellationToken).ConfigureAwait(false);");
                    Append($"        if ({char.ToLowerInvariant(arg[0])}{arg[1..]} is null)");
                    Append("        {");
                    Append($"            _logger.LogWarning(\"{arg} {{Id}} was not found\", id);");
                    Append("            return null;");
                    Append("        }");
                    Append(string.Empty);
                    Append($"        return {char.ToLowerInvariant(arg[0])}{arg[1..]} with {{ Updated = _clock.GetUtcNow() }};");
                    Append("    }");
                    Append(string.Empty);
                    break;
                case 2:
                    Append($"    public {type} {method}({type} value, int attempt = {rng.Next(1, 5)})");
                    Append("    {");
                    Append($"        ArgumentOutOfRangeException.ThrowIfNegative(attempt);");
                    Append($"        return attempt > {rng.Next(2, 9)} ? value : {method}(value, attempt + 1);");
                    Append("    }");
                    Append(string.Empty);
                    break;
                default:
                    Append($"    // {Sentence(rng, 8 + rng.Next(10))}");
                    break;
            }
        }

        Append("}");
        return sb.ToString();

        void Append(string text)
        {
            if (numbered)
            {
                sb.Append(line.ToString(CultureInfo.InvariantCulture).PadLeft(6)).Append('\t');
            }

            sb.Append(text).Append('\n');
            line++;
        }
    }

    /// <summary>Shell output (a build or test run, a grep) of about <paramref name="chars"/> characters.</summary>
    public static string CommandOutput(Random rng, int chars)
    {
        var sb = new StringBuilder(chars + 200);
        switch (rng.Next(3))
        {
            case 0:
                sb.Append("  Determining projects to restore...\n  All projects are up-to-date for restore.\n");
                while (sb.Length < chars)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"  Passed Contoso.Tests.{Nouns[rng.Next(Nouns.Length)]}Tests.{Identifier(rng)}_{Words[rng.Next(Words.Length)]} [{rng.Next(1, 400)} ms]\n");
                }

                sb.Append(CultureInfo.InvariantCulture, $"\nTest Run Successful.\nTotal tests: {rng.Next(40, 400)}\n     Passed: {rng.Next(40, 400)}\n");
                break;
            case 1:
                while (sb.Length < chars)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"{FileName(rng)}:{rng.Next(1, 600)}:        var result = await {Identifier(rng)}Async(request, cancellationToken);\n");
                }

                break;
            default:
                sb.Append(" M src/Program.cs\n");
                while (sb.Length < chars)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"@@ -{rng.Next(1, 300)},7 +{rng.Next(1, 300)},9 @@ public sealed class {Nouns[rng.Next(Nouns.Length)]}Service\n");
                    sb.Append(CultureInfo.InvariantCulture, $"-        return {Identifier(rng)}(value);\n+        return await {Identifier(rng)}Async(value, cancellationToken);\n");
                }

                break;
        }

        return sb.ToString();
    }

    public static string Sentence(Random rng, int words)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < words; i++)
        {
            if (i > 0)
            {
                sb.Append(' ');
            }

            sb.Append(Words[rng.Next(Words.Length)]);
        }

        return sb.ToString();
    }

    public static string Prose(Random rng, int chars)
    {
        var sb = new StringBuilder(chars + 100);
        while (sb.Length < chars)
        {
            var sentence = Sentence(rng, 8 + rng.Next(14));
            sb.Append(char.ToUpperInvariant(sentence[0])).Append(sentence.AsSpan(1)).Append(". ");
        }

        return sb.ToString().TrimEnd();
    }

    public static string HumanPrompt(Random rng)
    {
        var file = FileName(rng);
        return rng.Next(6) switch
        {
            0 => $"Add a retry with exponential backoff to {Identifier(rng)} in {file}, and a test for it.",
            1 => $"The {Nouns[rng.Next(Nouns.Length)].ToLowerInvariant()} tests fail since yesterday's merge. Find out why and fix it.",
            2 => $"Refactor {file} so that {Identifier(rng)} no longer blocks on I/O.",
            3 => $"Why does {Identifier(rng)} return null for archived {Nouns[rng.Next(Nouns.Length)].ToLowerInvariant()}s? Check {file}.",
            4 => $"Rename {Identifier(rng)} to {Identifier(rng)} everywhere and update the docs.",
            _ => $"Review the changes in {file} and tighten the validation of {Nouns[rng.Next(Nouns.Length)].ToLowerInvariant()} ids.",
        };
    }

    public static string Hex(Random rng, int digits)
    {
        const string alphabet = "0123456789abcdef";
        var chars = new char[digits];
        for (var i = 0; i < digits; i++)
        {
            chars[i] = alphabet[rng.Next(16)];
        }

        return new string(chars);
    }

    public static string ToolUseId(Random rng)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        var chars = new char[24];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = alphabet[rng.Next(alphabet.Length)];
        }

        return "toolu_01" + new string(chars);
    }

    public static Guid Guid(Random rng)
    {
        var bytes = new byte[16];
        rng.NextBytes(bytes);
        return new Guid(bytes);
    }
}
