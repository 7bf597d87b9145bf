using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace LlamaGateway.Tests.Metrics;

/// <summary>One sample line: metric name, labels in order, value.</summary>
internal sealed record PrometheusSample(string Name, IReadOnlyList<KeyValuePair<string, string>> Labels, double Value)
{
    public string? Label(string name) => Labels.FirstOrDefault(l => l.Key == name).Value;
}

/// <summary>A metric family: its HELP and TYPE and the samples that followed them.</summary>
internal sealed record PrometheusFamily(string Name, string Type, string Help, List<PrometheusSample> Samples);

/// <summary>
/// A strict reader of the Prometheus text exposition format 0.0.4, for tests: every line must match the grammar
/// (HELP/TYPE/comment/sample), label values and help text may use only the format's escapes, each family has one
/// HELP and one TYPE before its samples and its samples are contiguous, no series repeats, and histograms have
/// ascending <c>le</c> buckets with non-decreasing counts ending in +Inf equal to <c>_count</c>, plus <c>_sum</c>.
/// Throws <see cref="FormatException"/> naming the line.
/// </summary>
internal static partial class PrometheusTextParser
{
    private static readonly HashSet<string> Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();

    [GeneratedRegex(@"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")]
    private static partial Regex Float();

    public static IReadOnlyDictionary<string, PrometheusFamily> Parse(string text)
    {
        if (text.Length > 0 && !text.EndsWith('\n'))
        {
            throw new FormatException("The exposition must end with a line feed.");
        }

        if (text.Contains('\r'))
        {
            throw new FormatException("Lines must end with \\n only.");
        }

        var families = new Dictionary<string, PrometheusFamily>(StringComparer.Ordinal);
        var helps = new Dictionary<string, string>(StringComparer.Ordinal);
        var closed = new HashSet<string>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        PrometheusFamily? current = null;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length - 1; i++)
        {
            var line = lines[i];
            var where = $"line {i + 1} \"{line}\"";
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                var parts = line.Split(' ', 4);
                if (parts.Length >= 3 && parts[0] == "#" && parts[1] is "HELP" or "TYPE")
                {
                    var name = parts[2];
                    if (!MetricName().IsMatch(name))
                    {
                        throw new FormatException($"{where}: bad metric name");
                    }

                    if (closed.Contains(name) || (current is not null && current.Name != name && families.ContainsKey(name)))
                    {
                        throw new FormatException($"{where}: family {name} appears in two places");
                    }

                    if (parts[1] == "HELP")
                    {
                        if (!helps.TryAdd(name, Unescape(parts.Length == 4 ? parts[3] : string.Empty, allowQuote: false, where)))
                        {
                            throw new FormatException($"{where}: second HELP for {name}");
                        }
                    }
                    else
                    {
                        if (parts.Length != 4 || !Types.Contains(parts[3]))
                        {
                            throw new FormatException($"{where}: TYPE must be one of {string.Join(", ", Types)}");
                        }

                        if (families.ContainsKey(name))
                        {
                            throw new FormatException($"{where}: second TYPE for {name}");
                        }

                        if (current is not null && current.Name != name)
                        {
                            closed.Add(current.Name);
                        }

                        current = new PrometheusFamily(name, parts[3], helps.GetValueOrDefault(name, string.Empty), []);
                        families[name] = current;
                    }
                }

                continue;
            }

            var sample = ParseSample(line, where);
            if (current is null || !BelongsTo(sample.Name, current))
            {
                throw new FormatException($"{where}: sample outside its family (or before its TYPE line)");
            }

            if (current.Type == "counter" && (sample.Value < 0 || double.IsNaN(sample.Value)))
            {
                throw new FormatException($"{where}: a counter cannot be negative");
            }

            var key = sample.Name + "{" + string.Join(",", sample.Labels.Select(l => l.Key + "=" + l.Value)) + "}";
            if (!series.Add(key))
            {
                throw new FormatException($"{where}: series {key} repeats");
            }

            current.Samples.Add(sample);
        }

        foreach (var family in families.Values)
        {
            if (!helps.ContainsKey(family.Name))
            {
                throw new FormatException($"family {family.Name} has no HELP line");
            }

            if (family.Type == "histogram")
            {
                CheckHistogram(family);
            }
        }

        return families;
    }

    private static bool BelongsTo(string sample, PrometheusFamily family) =>
        sample == family.Name
        || (family.Type == "histogram" && (sample == family.Name + "_bucket" || sample == family.Name + "_sum" || sample == family.Name + "_count"))
        || (family.Type == "summary" && (sample == family.Name + "_sum" || sample == family.Name + "_count"));

    private static void CheckHistogram(PrometheusFamily family)
    {
        var groups = family.Samples.GroupBy(s => string.Join(",", s.Labels.Where(l => l.Key != "le").Select(l => l.Key + "=" + l.Value)));
        foreach (var group in groups)
        {
            var buckets = group.Where(s => s.Name == family.Name + "_bucket").ToList();
            var count = group.SingleOrDefault(s => s.Name == family.Name + "_count")
                ?? throw new FormatException($"{family.Name}{{{group.Key}}} has no _count");
            _ = group.SingleOrDefault(s => s.Name == family.Name + "_sum") ?? throw new FormatException($"{family.Name}{{{group.Key}}} has no _sum");
            if (buckets.Count == 0)
            {
                throw new FormatException($"{family.Name}{{{group.Key}}} has no buckets");
            }

            var previousBound = double.NegativeInfinity;
            var previousCount = 0.0;
            foreach (var bucket in buckets)
            {
                var le = bucket.Label("le") ?? throw new FormatException($"{family.Name} bucket without le");
                var bound = ParseValue(le, $"{family.Name} le");
                if (bound <= previousBound)
                {
                    throw new FormatException($"{family.Name}{{{group.Key}}}: le {le} is not above the previous bucket's");
                }

                if (bucket.Value < previousCount)
                {
                    throw new FormatException($"{family.Name}{{{group.Key}}}: bucket le={le} counts {bucket.Value}, fewer than the previous bucket's {previousCount}");
                }

                previousBound = bound;
                previousCount = bucket.Value;
            }

            if (!double.IsPositiveInfinity(previousBound))
            {
                throw new FormatException($"{family.Name}{{{group.Key}}}: the last bucket must be le=\"+Inf\"");
            }

            if (previousCount != count.Value)
            {
                throw new FormatException($"{family.Name}{{{group.Key}}}: +Inf bucket {previousCount} differs from _count {count.Value}");
            }
        }
    }

    private static PrometheusSample ParseSample(string line, string where)
    {
        var position = 0;
        while (position < line.Length && line[position] is not ('{' or ' '))
        {
            position++;
        }

        var name = line[..position];
        if (!MetricName().IsMatch(name))
        {
            throw new FormatException($"{where}: bad metric name");
        }

        var labels = new List<KeyValuePair<string, string>>();
        if (position < line.Length && line[position] == '{')
        {
            position++;
            while (true)
            {
                if (position < line.Length && line[position] == '}')
                {
                    position++;
                    break;
                }

                var equals = line.IndexOf('=', position);
                if (equals < 0)
                {
                    throw new FormatException($"{where}: label without '='");
                }

                var labelName = line[position..equals];
                if (!LabelName().IsMatch(labelName) || labelName.StartsWith("__", StringComparison.Ordinal))
                {
                    throw new FormatException($"{where}: bad label name '{labelName}'");
                }

                if (labels.Any(l => l.Key == labelName))
                {
                    throw new FormatException($"{where}: label {labelName} repeats");
                }

                position = equals + 1;
                if (position >= line.Length || line[position] != '"')
                {
                    throw new FormatException($"{where}: label value must be quoted");
                }

                var value = new StringBuilder();
                position++;
                while (true)
                {
                    if (position >= line.Length)
                    {
                        throw new FormatException($"{where}: unterminated label value");
                    }

                    var c = line[position++];
                    if (c == '"')
                    {
                        break;
                    }

                    if (c == '\\')
                    {
                        if (position >= line.Length)
                        {
                            throw new FormatException($"{where}: dangling escape");
                        }

                        value.Append(line[position++] switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            var other => throw new FormatException($"{where}: invalid escape \\{other} in a label value"),
                        });
                    }
                    else
                    {
                        value.Append(c);
                    }
                }

                labels.Add(new(labelName, value.ToString()));
                if (position < line.Length && line[position] == ',')
                {
                    position++;
                }
                else if (position >= line.Length || line[position] != '}')
                {
                    throw new FormatException($"{where}: expected ',' or '}}' after a label");
                }
            }
        }

        if (position >= line.Length || line[position] != ' ')
        {
            throw new FormatException($"{where}: expected a space before the value");
        }

        var rest = line[(position + 1)..].Split(' ');
        if (rest.Length is < 1 or > 2 || (rest.Length == 2 && !long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)))
        {
            throw new FormatException($"{where}: expected a value and an optional integer timestamp");
        }

        return new PrometheusSample(name, labels, ParseValue(rest[0], where));
    }

    private static double ParseValue(string text, string where) => text switch
    {
        "NaN" => double.NaN,
        "+Inf" or "Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        _ when Float().IsMatch(text) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
        _ => throw new FormatException($"{where}: '{text}' is not a sample value"),
    };

    private static string Unescape(string text, bool allowQuote, string where)
    {
        var result = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                result.Append(text[i]);
                continue;
            }

            if (++i >= text.Length)
            {
                throw new FormatException($"{where}: dangling escape");
            }

            result.Append(text[i] switch
            {
                '\\' => '\\',
                'n' => '\n',
                '"' when allowQuote => '"',
                var other => throw new FormatException($"{where}: invalid escape \\{other}"),
            });
        }

        return result.ToString();
    }
}
