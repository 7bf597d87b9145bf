using System.Globalization;

namespace LlamaGateway.Bench.Infrastructure;

/// <summary>A tiny <c>--name value</c> / <c>--flag</c> parser; unknown options are an error, so typos do not silently run defaults.</summary>
internal sealed class Cli
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _used = new(StringComparer.OrdinalIgnoreCase);

    public Cli(IEnumerable<string> args)
    {
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            var arg = list[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                Positional.Add(arg);
                continue;
            }

            var name = arg[2..];
            string? value = null;
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = list[++i];
            }

            _values[name] = value;
        }
    }

    public List<string> Positional { get; } = [];

    public bool Flag(string name)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var value))
        {
            return false;
        }

        return value is null || !string.Equals(value, "false", StringComparison.OrdinalIgnoreCase);
    }

    public string? String(string name, string? fallback = null)
    {
        _used.Add(name);
        return _values.TryGetValue(name, out var value) && value is not null ? value : fallback;
    }

    public int Int(string name, int fallback)
    {
        var text = String(name);
        return text is null ? fallback : int.Parse(text, CultureInfo.InvariantCulture);
    }

    public double Double(string name, double fallback)
    {
        var text = String(name);
        return text is null ? fallback : double.Parse(text, CultureInfo.InvariantCulture);
    }

    public List<int> Ints(string name, IReadOnlyList<int> fallback)
    {
        var text = String(name);
        return text is null ? [.. fallback] : [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture))];
    }

    public List<string> Strings(string name, IReadOnlyList<string> fallback)
    {
        var text = String(name);
        return text is null ? [.. fallback] : [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
    }

    /// <summary>Throws when an option was given that no code asked for.</summary>
    public void RejectUnknown()
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"Unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}");
        }
    }
}
