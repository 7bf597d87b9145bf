using System.Diagnostics;

namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// Entry point: writes a random-weight llama model with the real Qwen2 tokenizer, so tests can run a real
/// llama-server without downloading weights.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        Options options;
        try
        {
            options = Options.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine($"TinyModel: {e.Message}");
            Console.Error.WriteLine(Options.Usage);
            return 2;
        }

        if (options.ShowHelp)
        {
            Console.Error.WriteLine(Options.Usage);
            return 0;
        }

        try
        {
            if (options.InspectPath is { } inspect)
            {
                Inspect(inspect);
                return 0;
            }

            Generate(options);
            return 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException
                                      or KeyNotFoundException or ArgumentException)
        {
            Console.Error.WriteLine($"TinyModel: {e.Message}");
            return 1;
        }
    }

    private static void Generate(Options options)
    {
        var stopwatch = Stopwatch.StartNew();
        if (!File.Exists(options.VocabPath))
        {
            throw new FileNotFoundException(
                $"Vocab file {options.VocabPath} not found; run scripts/install-llama-server.sh or pass --vocab.");
        }

        var vocab = GgufReader.ReadMetadata(options.VocabPath);
        var builder = new TinyModelBuilder(options.Shape, vocab, options.Seed, options.Type);
        var metadata = builder.BuildMetadata();
        var tensors = builder.BuildTensors();
        long parameters = tensors.Sum(t => t.ElementCount);
        Console.Error.WriteLine($"TinyModel: {options.Shape} n_vocab={builder.VocabSize} params={parameters:N0} type={options.Type} seed={options.Seed}");

        string output = options.ResolvedOutputPath;
        GgufWriter.Write(output, metadata, tensors);
        Console.Error.WriteLine($"TinyModel: wrote {new FileInfo(output).Length:N0} bytes in {stopwatch.Elapsed.TotalSeconds:F1}s");
        Console.Out.WriteLine(output);
    }

    private static void Inspect(string path)
    {
        var metadata = GgufReader.ReadMetadata(path);
        Console.Out.WriteLine($"GGUF v{metadata.Version}, {metadata.TensorCount} tensors, {metadata.Count} keys");
        foreach (var (key, value) in metadata.Entries)
        {
            string shown = value.ToString();
            Console.Out.WriteLine($"  {key} = {(shown.Length > 120 ? shown[..120] + "..." : shown)}");
        }
    }
}
