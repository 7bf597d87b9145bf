using System.Globalization;

namespace LlamaGateway.Bench.Infrastructure;

/// <summary>One panel of grouped bars: <c>Values[group][series]</c>; NaN draws no bar ("n/a").</summary>
internal sealed record BarPanel(string Title, IReadOnlyList<string> Groups, IReadOnlyList<string> Series, double[][] Values, Func<double, string> Label)
{
    /// <summary>An optional horizontal reference line (e.g. a target), drawn dashed with its label.</summary>
    public (double Value, string Label)? Reference { get; init; }

    /// <summary>Draw the y axis on a log10 scale (for values spanning orders of magnitude).</summary>
    public bool LogScale { get; init; }
}

/// <summary>Renders grouped bar panels into a PNG with <see cref="Canvas"/>.</summary>
internal static class BarChart
{
    private const int PanelWidth = 620;
    private const int PanelHeight = 400;
    private const int HeaderHeight = 78;
    private const int FooterHeight = 34;

    public static void Render(string path, string title, IReadOnlyList<string> seriesNames, IReadOnlyList<BarPanel> panels, int columns, string footnote)
    {
        var rows = (panels.Count + columns - 1) / columns;
        var width = columns * PanelWidth;
        var footLines = Wrap(footnote, (width - 32) / 6);

        // Legend, shared by all panels, wrapped onto as many lines as it needs.
        var legend = new List<(int X, int Line, string Name, Rgb Color)>();
        var x = 16;
        var legendLine = 0;
        for (var s = 0; s < seriesNames.Count; s++)
        {
            var itemWidth = 22 + Canvas.TextWidth(seriesNames[s], 2) + 28;
            if (x > 16 && x + itemWidth > width - 16)
            {
                x = 16;
                legendLine++;
            }

            legend.Add((x, legendLine, seriesNames[s], Rgb.Palette[s % Rgb.Palette.Length]));
            x += itemWidth;
        }

        var headerHeight = HeaderHeight + (legendLine * 22);
        var canvas = new Canvas(width, headerHeight + (rows * PanelHeight) + FooterHeight + ((footLines.Count - 1) * 11), Rgb.White);
        canvas.DrawText(16, 12, title, Rgb.Black, 3);
        foreach (var item in legend)
        {
            canvas.FillRect(item.X, 50 + (item.Line * 22), 16, 14, item.Color);
            canvas.DrawText(item.X + 22, 50 + (item.Line * 22), item.Name, Rgb.Black, 2);
        }

        for (var p = 0; p < panels.Count; p++)
        {
            var left = (p % columns) * PanelWidth;
            var top = headerHeight + ((p / columns) * PanelHeight);
            DrawPanel(canvas, panels[p], left, top);
        }

        var footY = headerHeight + (rows * PanelHeight) + 10;
        foreach (var line in footLines)
        {
            canvas.DrawText(16, footY, line, Rgb.Muted, 1);
            footY += 11;
        }

        canvas.Save(path);
    }

    private static List<string> Wrap(string text, int maxChars)
    {
        var lines = new List<string>();
        var current = string.Empty;
        foreach (var word in text.Split(' '))
        {
            if (current.Length > 0 && current.Length + 1 + word.Length > maxChars)
            {
                lines.Add(current);
                current = word;
            }
            else
            {
                current = current.Length == 0 ? word : current + " " + word;
            }
        }

        if (current.Length > 0)
        {
            lines.Add(current);
        }

        return lines.Count == 0 ? [string.Empty] : lines;
    }

    private static void DrawPanel(Canvas canvas, BarPanel panel, int left, int top)
    {
        const int plotLeftPad = 86;
        const int plotRightPad = 20;
        const int plotTopPad = 46;
        const int plotBottomPad = 58;
        canvas.DrawText(left + 16, top + 12, panel.Title, Rgb.Black, 2);
        var plotX = left + plotLeftPad;
        var plotY = top + plotTopPad;
        var plotW = PanelWidth - plotLeftPad - plotRightPad;
        var plotH = PanelHeight - plotTopPad - plotBottomPad;

        var values = panel.Values.SelectMany(v => v).Where(v => !double.IsNaN(v) && !double.IsInfinity(v)).ToList();
        var max = values.Count == 0 ? 1 : values.Max();
        if (panel.Reference is { } reference)
        {
            max = Math.Max(max, reference.Value);
        }

        Func<double, double> scale;
        List<double> ticks;
        if (panel.LogScale)
        {
            var positive = values.Where(v => v > 0).DefaultIfEmpty(1).ToList();
            var lo = Math.Pow(10, Math.Floor(Math.Log10(positive.Min())));
            var hi = Math.Pow(10, Math.Ceiling(Math.Log10(Math.Max(max, lo * 10))));
            ticks = [];
            for (var t = lo; t <= hi * 1.0001; t *= 10)
            {
                ticks.Add(t);
            }

            scale = v => v <= 0 ? 0 : Math.Clamp((Math.Log10(v) - Math.Log10(lo)) / (Math.Log10(hi) - Math.Log10(lo)), 0, 1);
        }
        else
        {
            var step = NiceStep(max <= 0 ? 1 : max / 5);
            var top2 = Math.Ceiling(max / step) * step;
            if (top2 <= 0)
            {
                top2 = step;
            }

            ticks = [];
            for (var t = 0.0; t <= top2 * 1.0001; t += step)
            {
                ticks.Add(t);
            }

            scale = v => Math.Clamp(v / top2, 0, 1);
        }

        foreach (var tick in ticks)
        {
            var y = plotY + plotH - (int)Math.Round(scale(tick) * plotH);
            canvas.HLine(plotX, plotX + plotW, y, Rgb.Grid);
            var label = TickLabel(tick);
            canvas.DrawText(plotX - 6 - Canvas.TextWidth(label, 1), y - 3, label, Rgb.Axis, 1);
        }

        canvas.VLine(plotX, plotY, plotY + plotH, Rgb.Axis);
        canvas.HLine(plotX, plotX + plotW, plotY + plotH, Rgb.Axis);

        var groups = panel.Groups.Count;
        var series = panel.Series.Count;
        var groupW = plotW / Math.Max(1, groups);
        var barW = Math.Max(4, Math.Min(48, (groupW - 16) / Math.Max(1, series)));
        for (var g = 0; g < groups; g++)
        {
            var groupLeft = plotX + (g * groupW) + ((groupW - (barW * series)) / 2);
            for (var s = 0; s < series; s++)
            {
                var value = panel.Values[g][s];
                var bx = groupLeft + (s * barW);
                var color = Rgb.Palette[s % Rgb.Palette.Length];
                if (double.IsNaN(value))
                {
                    canvas.DrawTextCentered(bx + (barW / 2), plotY + plotH - 12, "N/A", Rgb.Muted, 1);
                    continue;
                }

                var h = (int)Math.Round(scale(value) * plotH);
                canvas.FillRect(bx + 1, plotY + plotH - h, barW - 2, h, color);
                // Labels wider than their bar would run into the neighbours': smaller, and staggered in height.
                var text = panel.Label(value);
                var labelScale = Canvas.TextWidth(text, 2) <= barW - 2 ? 2 : 1;
                var stagger = labelScale == 1 && Canvas.TextWidth(text, 1) > barW - 2 && s % 2 == 1 ? 10 : 0;
                canvas.DrawTextCentered(bx + (barW / 2), plotY + plotH - h - (labelScale * 7) - 4 - stagger, text, Rgb.Black, labelScale);
            }

            var groupLabel = panel.Groups[g];
            var groupScale = Canvas.TextWidth(groupLabel, 2) <= groupW - 4 ? 2 : 1;
            canvas.DrawTextCentered(plotX + (g * groupW) + (groupW / 2), plotY + plotH + 12, groupLabel, Rgb.Black, groupScale);
        }

        if (panel.Reference is { } target)
        {
            var y = plotY + plotH - (int)Math.Round(scale(target.Value) * plotH);
            canvas.HLine(plotX, plotX + plotW, y, new Rgb(200, 30, 30), dashed: true);
            canvas.DrawText(plotX + plotW - Canvas.TextWidth(target.Label, 1) - 4, y - 10, target.Label, new Rgb(200, 30, 30), 1);
        }

        if (panel.LogScale)
        {
            canvas.DrawText(plotX + 4, plotY - 12, "LOG SCALE", Rgb.Muted, 1);
        }
    }

    private static double NiceStep(double raw)
    {
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var fraction = raw / magnitude;
        var nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
        return nice * magnitude;
    }

    private static string TickLabel(double value) => value switch
    {
        >= 1_000_000 => (value / 1_000_000).ToString("0.#", CultureInfo.InvariantCulture) + "M",
        >= 10_000 => (value / 1_000).ToString("0.#", CultureInfo.InvariantCulture) + "K",
        >= 1 => value.ToString("0.##", CultureInfo.InvariantCulture),
        0 => "0",
        _ => value.ToString("0.###", CultureInfo.InvariantCulture),
    };
}
