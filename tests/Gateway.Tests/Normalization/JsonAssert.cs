using System.Text.Json;

namespace LlamaGateway.Tests.Normalization;

/// <summary>
/// Strict JSON equality: same property names in the same order (duplicates included), strings equal after
/// unescaping, numbers equal as written (1.0 is not 1).
/// </summary>
internal static class JsonAssert
{
    public static void DeepEqual(JsonElement expected, JsonElement actual, string path = "$")
    {
        Assert.True(expected.ValueKind == actual.ValueKind, $"{path}: kind {expected.ValueKind} expected, got {actual.ValueKind}");
        switch (expected.ValueKind)
        {
            case JsonValueKind.Object:
                var expectedProperties = expected.EnumerateObject().ToList();
                var actualProperties = actual.EnumerateObject().ToList();
                Assert.True(
                    expectedProperties.Select(p => p.Name).SequenceEqual(actualProperties.Select(p => p.Name)),
                    $"{path}: properties [{string.Join(",", expectedProperties.Select(p => p.Name))}] expected, got [{string.Join(",", actualProperties.Select(p => p.Name))}]");
                for (var i = 0; i < expectedProperties.Count; i++)
                {
                    DeepEqual(expectedProperties[i].Value, actualProperties[i].Value, $"{path}.{expectedProperties[i].Name}");
                }

                break;
            case JsonValueKind.Array:
                Assert.True(expected.GetArrayLength() == actual.GetArrayLength(), $"{path}: length {expected.GetArrayLength()} expected, got {actual.GetArrayLength()}");
                for (var i = 0; i < expected.GetArrayLength(); i++)
                {
                    DeepEqual(expected[i], actual[i], $"{path}[{i}]");
                }

                break;
            case JsonValueKind.String:
                Assert.True(expected.GetString() == actual.GetString(), $"{path}: string differs");
                break;
            case JsonValueKind.Number:
                Assert.True(expected.GetRawText() == actual.GetRawText(), $"{path}: number {expected.GetRawText()} expected, got {actual.GetRawText()}");
                break;
        }
    }
}
