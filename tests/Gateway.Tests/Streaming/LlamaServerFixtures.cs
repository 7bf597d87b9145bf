namespace LlamaGateway.Tests.Streaming;

/// <summary>Responses recorded from (or shaped exactly like) llama-server; see tests/fixtures/llama-server/README.md.</summary>
internal static class LlamaServerFixtures
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "fixtures", "llama-server");

    public static IEnumerable<string> StreamNames =>
        System.IO.Directory.EnumerateFiles(Directory, "*.sse").Select(Path.GetFileName).Order()!;

    public static TheoryData<string> Streams => new(StreamNames);

    public static byte[] Read(string fileName) => File.ReadAllBytes(Path.Combine(Directory, fileName));
}
