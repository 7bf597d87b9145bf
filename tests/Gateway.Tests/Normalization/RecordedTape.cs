using System.Buffers;
using System.Text.Json;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Tests.Normalization;

/// <summary>
/// Normalizes with a tape recorder, as the gateway does, and holds the recording to what parsing the output builds:
/// every entry equal. Used by every normalizer test through <see cref="NormalizerRun"/>, and by the property test.
/// </summary>
internal static class RecordedTape
{
    /// <summary>Normalizes <paramref name="body"/>; when the recording is valid, asserts it equals the parsed tape. Returns whether it was valid.</summary>
    public static (NormalizationOutcome Outcome, byte[] Body, bool Recorded) Normalize(ReadOnlySpan<byte> body, ApiRoute route, NormalizationSettings settings)
    {
        var output = new ArrayBufferWriter<byte>();
        using var recorder = new JsonTapeRecorder(body.Length);
        var outcome = RequestNormalizer.Normalize(body, route, settings, output, recorder);
        var normalized = output.WrittenSpan.ToArray();
        if (!outcome.Success || !recorder.IsValid)
        {
            return (outcome, normalized, false);
        }

        using var recorded = recorder.ToTape(normalized);
        AssertEqual(normalized, recorded);
        return (outcome, normalized, true);
    }

    /// <summary>Normalizes as the gateway does and returns the recorded tape over the output (the caller disposes it).</summary>
    public static JsonTape NormalizeToTape(ReadOnlySpan<byte> body, ApiRoute route, NormalizationSettings settings)
    {
        var output = new ArrayBufferWriter<byte>();
        using var recorder = new JsonTapeRecorder(body.Length);
        var outcome = RequestNormalizer.Normalize(body, route, settings, output, recorder);
        Assert.True(outcome.Success, outcome.Error);
        Assert.True(recorder.IsValid, "the recording must follow the normalizer");
        var normalized = output.WrittenSpan.ToArray();
        var tape = recorder.ToTape(normalized);
        AssertEqual(normalized, tape);
        return tape;
    }

    public static void AssertEqual(byte[] json, JsonTape recorded)
    {
        using var parsed = JsonTape.Parse(json, RequestNormalizer.MaxDepth + 8);
        Assert.Equal(parsed.Count, recorded.Count);
        Assert.Equal(parsed.IsCompact, recorded.IsCompact);
        for (var i = 0; i < parsed.Count; i++)
        {
            var expected = parsed.EntryAt(i);
            var actual = recorded.EntryAt(i);
            if (!expected.Equals(actual))
            {
                Assert.Fail($"entry {i} differs: parsed {Describe(expected)}, recorded {Describe(actual)}; around \"{Around(json, expected.Start)}\"");
            }
        }
    }

    private static string Describe(JsonTape.Entry entry) =>
        $"{entry.Type} start {entry.Start} length {entry.Length} depth {entry.Depth} escaped {entry.Escaped} aux {entry.Aux}";

    private static string Around(byte[] json, int at) =>
        System.Text.Encoding.UTF8.GetString(json, Math.Max(0, at - 20), Math.Min(40, json.Length - Math.Max(0, at - 20)));
}
