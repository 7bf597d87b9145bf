using System.Globalization;

namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// Command-line options. Parsed by hand because the tool must stay dependency-free.
/// </summary>
internal sealed class Options
{
    public const string Usage = """
        Usage: TinyModel [--size fast|bench] [--out PATH] [--vocab PATH] [--seed N] [--type f16|f32]
                         [--context N] [--embd N] [--layers N] [--heads N] [--kv-heads N] [--ff N]
               TinyModel --inspect PATH

          --size     model preset (default fast)
          --out      output GGUF path (default ./tiny-<size>.gguf)
          --vocab    vocab-only GGUF to take the tokenizer from
                     (default $GATEWAY_CACHE/llama.cpp-3.22.1/models/ggml-vocab-qwen2.gguf)
          --seed     weight RNG seed (default 42)
          --type     matrix element type (default f16)
          --context  llama.context_length to declare (default 131072)
          --embd, --layers, --heads, --kv-heads, --ff
                     override one hyperparameter of the preset (for tuning speed; the name stays the preset's)
          --inspect  print the metadata and tensor count of a GGUF file and exit

        Prints the path of the written model as the last line of stdout.
        """;

    // Must match the llama.cpp source tree that scripts/install-llama-server.sh unpacks.
    private const string LlamaCppTree = "llama.cpp-3.22.1";

    public ModelShape Shape { get; private set; } = ModelShape.Fast;

    public string? OutputPath { get; private set; }

    public string VocabPath { get; private set; } = DefaultVocabPath();

    public ulong Seed { get; private set; } = 42;

    public GgmlType Type { get; private set; } = GgmlType.F16;

    public string? InspectPath { get; private set; }

    public bool ShowHelp { get; private set; }

    public string ResolvedOutputPath => Path.GetFullPath(OutputPath ?? $"tiny-{Shape.Name}.gguf");

    public static Options Parse(IReadOnlyList<string> args)
    {
        var options = new Options();
        var overrides = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{arg} needs a value.");
            switch (arg)
            {
                case "--size": options.Shape = ModelShape.FromName(Value()); break;
                case "--out": options.OutputPath = Value(); break;
                case "--vocab": options.VocabPath = Value(); break;
                case "--seed": options.Seed = ulong.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--type": options.Type = ParseType(Value()); break;
                case "--context" or "--embd" or "--layers" or "--heads" or "--kv-heads" or "--ff":
                    overrides[arg] = PositiveInt(arg, Value());
                    break;
                case "--inspect": options.InspectPath = Value(); break;
                case "-h" or "--help": options.ShowHelp = true; break;
                default: throw new ArgumentException($"Unknown argument '{arg}'.");
            }
        }

        // Applied after the loop so "--ff 2048 --size bench" overrides the bench preset whatever the order.
        var shape = options.Shape;
        foreach (var (name, n) in overrides)
        {
            shape = name switch
            {
                "--context" => shape with { ContextLength = n },
                "--embd" => shape with { EmbeddingLength = n },
                "--layers" => shape with { BlockCount = n },
                "--heads" => shape with { HeadCount = n },
                "--kv-heads" => shape with { HeadCountKv = n },
                _ => shape with { FeedForwardLength = n },
            };
        }

        options.Shape = shape;
        return options;
    }

    private static int PositiveInt(string name, string value)
    {
        int n = int.Parse(value, CultureInfo.InvariantCulture);
        return n > 0 ? n : throw new ArgumentException($"{name} must be positive.");
    }

    private static GgmlType ParseType(string value) => value.ToLowerInvariant() switch
    {
        "f16" => GgmlType.F16,
        "f32" => GgmlType.F32,
        _ => throw new ArgumentException($"Unsupported --type '{value}'; expected f16 or f32."),
    };

    // Same cache-root rules as the scripts, so the tool finds the vocab wherever install-llama-server.sh put it.
    private static string DefaultVocabPath()
    {
        string? cache = Environment.GetEnvironmentVariable("GATEWAY_CACHE");
        if (string.IsNullOrEmpty(cache))
        {
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            string root = string.IsNullOrEmpty(xdg)
                ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache")
                : xdg;
            cache = Path.Combine(root, "llama-gateway");
        }

        return Path.Combine(cache, LlamaCppTree, "models", "ggml-vocab-qwen2.gguf");
    }
}
