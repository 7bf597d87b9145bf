using LlamaGateway.Metrics;

namespace LlamaGateway.Tests.Metrics;

public sealed class PrometheusFormatTests
{
    [Fact]
    public void Sample_AwkwardLabelValue_EscapedAndReadBack()
    {
        var writer = new PrometheusWriter();
        writer.Family("gateway_test_total", "counter", "Help with a back\\slash\nand a new line.");
        writer.Sample("gateway_test_total", 3, ("user", "o\"brien\\x\ny"), ("route", "/v1/messages"));

        var text = writer.ToString();

        Assert.Equal("# HELP gateway_test_total Help with a back\\\\slash\\nand a new line.\n# TYPE gateway_test_total counter\n" +
            "gateway_test_total{user=\"o\\\"brien\\\\x\\ny\",route=\"/v1/messages\"} 3\n", text);
        var sample = Assert.Single(PrometheusTextParser.Parse(text)["gateway_test_total"].Samples);
        Assert.Equal("o\"brien\\x\ny", sample.Label("user"));
        Assert.Equal(3, sample.Value);
    }

    [Theory]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(0.25, "0.25")]
    [InlineData(1e-7, "1E-07")]
    [InlineData(12345678901, "12345678901")]
    public void FormatValue_SpecialAndOrdinaryValues_UseTheFormatsSpelling(double value, string expected)
    {
        Assert.Equal(expected, PrometheusWriter.FormatValue(value));
    }

    [Fact]
    public void Histogram_Observations_CumulativeBucketsEndAtCount()
    {
        var histogram = new DurationHistogram();
        foreach (var seconds in new[] { 0.005, 0.2, 0.2, 3, 5000 })
        {
            histogram.Observe(seconds);
        }

        var (cumulative, sum, count) = histogram.Read();

        Assert.Equal(5, count);
        Assert.Equal(5, cumulative[^1]);
        Assert.Equal(1, cumulative[Array.IndexOf(DurationHistogram.Bounds, 0.01)]);
        Assert.Equal(3, cumulative[Array.IndexOf(DurationHistogram.Bounds, 0.25)]);
        Assert.Equal(4, cumulative[Array.IndexOf(DurationHistogram.Bounds, 600)]);
        Assert.Equal(5003.405, sum, 6);
    }

    [Theory]
    [InlineData("# TYPE a counter\na 1\n", "no HELP")]
    [InlineData("# HELP a x\n# TYPE a counter\na{b=\"1\"} 1", "line feed")]
    [InlineData("# HELP a x\na 1\n", "outside its family")]
    [InlineData("# HELP a x\n# TYPE a speedometer\n", "TYPE must be")]
    [InlineData("# HELP a x\n# TYPE a gauge\na{b=\"\\t\"} 1\n", "invalid escape")]
    [InlineData("# HELP a x\n# TYPE a gauge\na{b=1} 1\n", "quoted")]
    [InlineData("# HELP a x\n# TYPE a gauge\na{1b=\"1\"} 1\n", "bad label name")]
    [InlineData("# HELP a x\n# TYPE a gauge\na one\n", "not a sample value")]
    [InlineData("# HELP a x\n# TYPE a gauge\na 1\na 2\n", "repeats")]
    [InlineData("# HELP a x\n# TYPE a counter\na -1\n", "negative")]
    [InlineData("# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na{c=\"1\"} 2\n", "outside its family")]
    [InlineData("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "fewer than")]
    [InlineData("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf")]
    [InlineData("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", "differs from _count")]
    [InlineData("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", "no _sum")]
    public void Parse_InvalidExposition_Throws(string text, string expected)
    {
        var error = Assert.Throws<FormatException>(() => PrometheusTextParser.Parse(text));

        Assert.Contains(expected, error.Message);
    }
}
