using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Tests.Normalization;

/// <summary>Runs the normalizer on test bodies and offers the settings the tests use.</summary>
internal static class NormalizerRun
{
    public const string CanonicalLine = "x-anthropic-billing-header: " + NormalizationSettings.DefaultBillingHeaderValue;

    public static NormalizationSettings Replace(bool fold = true) => Settings(BillingHeaderMode.Replace, fold);

    public static NormalizationSettings Settings(BillingHeaderMode mode, bool fold = true) =>
        new(mode, NormalizationSettings.DefaultBillingHeaderValue, fold);

    /// <summary>Normalizes as the gateway does, tape recorder included (a valid recording must equal the parsed tape).</summary>
    public static (NormalizationOutcome Outcome, byte[] Body) Run(ReadOnlySpan<byte> body, ApiRoute route, NormalizationSettings settings)
    {
        var (outcome, output, _) = RecordedTape.Normalize(body, route, settings);
        var plain = new ArrayBufferWriter<byte>();
        var without = RequestNormalizer.Normalize(body, route, settings, plain);
        Assert.Equal(outcome.Success, without.Success);
        if (outcome.Success)
        {
            Assert.True(plain.WrittenSpan.SequenceEqual(output), "recording the tape changed the output");
        }

        // The reuse cache must change nothing: offered once, remembered at the second offer, reused from the third.
        var cache = new UnchangedValueCache(64 * 1024 * 1024);
        foreach (var run in new[] { "first", "second", "third" })
        {
            var (cached, cachedOutput, _) = RecordedTape.Normalize(body, route, settings with { ReuseCache = cache });
            Assert.Equal(outcome.Success, cached.Success);
            Assert.Equal(outcome.Error, cached.Error);
            if (outcome.Success)
            {
                Assert.True(cachedOutput.AsSpan().SequenceEqual(output), $"the reuse cache ({run}) changed the output");
            }
        }

        return (outcome, output);
    }

    /// <summary>Normalizes and asserts success; returns the output body.</summary>
    public static byte[] Ok(ReadOnlySpan<byte> body, ApiRoute route, NormalizationSettings settings)
    {
        var (outcome, output) = Run(body, route, settings);
        Assert.True(outcome.Success, outcome.Error);
        Assert.Null(outcome.Error);
        return output;
    }

    public static JsonNode OkNode(string json, ApiRoute route, NormalizationSettings settings) =>
        JsonNode.Parse(Ok(Encoding.UTF8.GetBytes(json), route, settings))!;

    public static JsonElement Element(byte[] body) => JsonDocument.Parse(body).RootElement.Clone();

    public static JsonElement Element(JsonNode node) => JsonDocument.Parse(node.ToJsonString()).RootElement.Clone();

    /// <summary>Replaces @0, @1... in <paramref name="template"/> with the texts as JSON string literals.</summary>
    public static string Fill(string template, params string[] texts)
    {
        for (var i = texts.Length - 1; i >= 0; i--)
        {
            template = template.Replace("@" + i, Str(texts[i]), StringComparison.Ordinal);
        }

        return template;
    }

    /// <summary>A JSON string literal for <paramref name="text"/>.</summary>
    public static string Str(string text) => JsonSerializer.Serialize(text, RelaxedJson);

    /// <summary>Serializer options that escape like the normalizer's writer.</summary>
    public static JsonSerializerOptions RelaxedJson { get; } = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
