namespace LlamaGateway.Bench.Infrastructure;

/// <summary>Where the real parts live: the llama-server binary and the tiny models (scripts/*.sh put them there).</summary>
internal static class BenchEnvironment
{
    public static string CacheDirectory =>
        Environment.GetEnvironmentVariable("GATEWAY_CACHE") is { Length: > 0 } explicitPath ? explicitPath
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "llama-gateway");

    public static string DefaultLlamaServer => Path.Combine(CacheDirectory, "llama.cpp-3.22.1", "build", "bin", "llama-server");

    /// <summary>
    /// Resolves <c>fast</c>/<c>bench</c> through scripts/make-tiny-model.sh (which builds the model once and prints its
    /// path), falling back to an already generated file in the cache; any other value is a path.
    /// </summary>
    public static string ResolveModel(string model, string repositoryRoot)
    {
        if (model is not ("fast" or "bench"))
        {
            return File.Exists(model) ? Path.GetFullPath(model) : throw new FileNotFoundException($"Model not found: {model}");
        }

        var script = Path.Combine(repositoryRoot, "scripts", "make-tiny-model.sh");
        if (File.Exists(script) && Directory.Exists(Path.Combine(repositoryRoot, "tools", "TinyModel")))
        {
            var output = MachineInfo.Run("bash", $"\"{script}\" {model}");
            var last = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
            if (last is not null && File.Exists(last))
            {
                return last;
            }
        }

        var cached = Path.Combine(CacheDirectory, "models", $"tiny-{model}.gguf");
        return File.Exists(cached) ? cached
            : throw new FileNotFoundException($"No tiny '{model}' model: run scripts/make-tiny-model.sh {model} (expected {cached}).");
    }
}
