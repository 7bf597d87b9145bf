using System.Globalization;
using System.Text;

namespace LlamaGateway.Bench.Infrastructure;

/// <summary>Builds the results files: headings, paragraphs and pipe tables.</summary>
internal sealed class Markdown
{
    private readonly StringBuilder _text = new();

    public Markdown Heading(int level, string text)
    {
        _text.Append('#', level).Append(' ').AppendLine(text).AppendLine();
        return this;
    }

    public Markdown Paragraph(string text)
    {
        _text.AppendLine(text).AppendLine();
        return this;
    }

    public Markdown Code(string text, string language = "")
    {
        _text.Append("```").AppendLine(language).AppendLine(text.TrimEnd()).AppendLine("```").AppendLine();
        return this;
    }

    public Markdown Bullets(IEnumerable<string> items)
    {
        foreach (var item in items)
        {
            _text.Append("- ").AppendLine(item);
        }

        _text.AppendLine();
        return this;
    }

    public Markdown Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        _text.Append("| ").Append(string.Join(" | ", header.Select(Escape))).AppendLine(" |");
        _text.Append('|').Append(string.Concat(header.Select((_, i) => i == 0 ? "---|" : "---:|"))).AppendLine();
        foreach (var row in rows)
        {
            _text.Append("| ").Append(string.Join(" | ", row.Select(Escape))).AppendLine(" |");
        }

        _text.AppendLine();
        return this;
    }

    public override string ToString() => _text.ToString();

    private static string Escape(string cell) => cell.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}

internal static class Fmt
{
    public static string N0(double value) => double.IsNaN(value) ? "n/a" : value.ToString("N0", CultureInfo.InvariantCulture);

    public static string F1(double value) => double.IsNaN(value) ? "n/a" : value.ToString("0.0", CultureInfo.InvariantCulture);

    public static string F2(double value) => double.IsNaN(value) ? "n/a" : value.ToString("0.00", CultureInfo.InvariantCulture);

    public static string F3(double value) => double.IsNaN(value) ? "n/a" : value.ToString("0.000", CultureInfo.InvariantCulture);

    public static string Pct(double ratio) => double.IsNaN(ratio) ? "n/a" : (ratio * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %";

    public static string Seconds(double seconds) => double.IsNaN(seconds) ? "n/a" : seconds.ToString(seconds < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture) + " s";

    public static string Ms(double ms) => double.IsNaN(ms) ? "n/a" : ms.ToString(ms < 10 ? "0.000" : "0.0", CultureInfo.InvariantCulture) + " ms";

    public static string Mib(double bytes) => double.IsNaN(bytes) ? "n/a" : (bytes / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";

    public static string PassFail(bool pass) => pass ? "**PASS**" : "**FAIL**";

    public static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
