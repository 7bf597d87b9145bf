using System.Text.RegularExpressions;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>
/// Where the external pieces live: llama-server, the Claude Code CLI and the tiny models. Each comes from its
/// environment variable (LLAMA_SERVER, CLAUDE_CODE, TINY_MODEL, TINY_MODEL_BENCH) or else from the cache that
/// scripts/setup.sh fills (<c>$GATEWAY_CACHE</c>, default <c>~/.cache/llama-gateway</c>). A missing piece fails the
/// test with what to run: these tests are never skipped, in CI or anywhere else.
/// </summary>
internal static partial class Toolchain
{
    private static readonly Lazy<string> Root = new(FindRepositoryRoot);

    /// <summary>The repository root (the directory holding Gateway.sln).</summary>
    public static string RepositoryRoot => Root.Value;

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The cache directory the install scripts use.</summary>
    public static string CacheDirectory
    {
        get
        {
            var explicitCache = Environment.GetEnvironmentVariable("GATEWAY_CACHE");
            if (!string.IsNullOrEmpty(explicitCache))
            {
                return explicitCache;
            }

            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var cacheHome = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache") : xdg;
            return Path.Combine(cacheHome, "llama-gateway");
        }
    }

    public static string LlamaServer => Resolve("LLAMA_SERVER", "llama-server",
        Path.Combine(CacheDirectory, $"llama.cpp-{ScriptVersion("install-llama-server.sh", "NODE_LLAMA_CPP_VERSION")}", "build", "bin", "llama-server"),
        executable: true);

    public static string ClaudeCode => Resolve("CLAUDE_CODE", "the Claude Code CLI",
        Path.Combine(CacheDirectory, $"claude-code-{ScriptVersion("install-claude-code.sh", "CLAUDE_CODE_VERSION")}", "node_modules", ".bin", "claude"),
        executable: true);

    /// <summary>The "fast" tiny model (scripts/make-tiny-model.sh fast).</summary>
    public static string FastModel => Resolve("TINY_MODEL", "the fast tiny model", Path.Combine(CacheDirectory, "models", "tiny-fast.gguf"), executable: false);

    /// <summary>The "bench" tiny model (scripts/make-tiny-model.sh bench).</summary>
    public static string BenchModel => Resolve("TINY_MODEL_BENCH", "the bench tiny model", Path.Combine(CacheDirectory, "models", "tiny-bench.gguf"), executable: false);

    /// <summary>Where a test keeps its logs (llama-server, gateway, CLI output): E2E_ARTIFACTS or artifacts/e2e.</summary>
    public static string ArtifactsDirectory
    {
        get
        {
            var explicitDir = Environment.GetEnvironmentVariable("E2E_ARTIFACTS");
            return string.IsNullOrEmpty(explicitDir) ? Path.Combine(RepositoryRoot, "artifacts", "e2e") : Path.GetFullPath(explicitDir);
        }
    }

    /// <summary>A fresh (emptied) artifacts directory for one test.</summary>
    public static string ArtifactsFor(string testName)
    {
        var dir = Path.Combine(ArtifactsDirectory, Sanitize(testName));
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }

        Directory.CreateDirectory(dir);
        return dir;
    }

    public static string Sanitize(string name) => UnsafeFileNameChars().Replace(name, "_");

    private static string Resolve(string variable, string what, string cachedPath, bool executable)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            if (!File.Exists(fromEnvironment) || (executable && !IsExecutable(fromEnvironment)))
            {
                throw new InvalidOperationException(
                    $"{variable}={fromEnvironment} does not name {(executable ? "an executable file" : "a file")}. Unset it to use the cache, or fix the path.");
            }

            return fromEnvironment;
        }

        if (File.Exists(cachedPath) && (!executable || IsExecutable(cachedPath)))
        {
            return cachedPath;
        }

        var setup = $"run `bash scripts/setup.sh` in {RepositoryRoot} (it installs llama-server, the Claude Code CLI and the tiny models), or set {variable}";
        throw new InvalidOperationException(IsCi
            ? $"CI=true and {what} is missing at {cachedPath}: the CI job must {setup} before `dotnet test`. End-to-end tests are never skipped in CI."
            : $"{what} is missing at {cachedPath}: {setup}.");
    }

    private static bool IsExecutable(string path) =>
        OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    /// <summary>Reads a pinned version (<c>NAME="x.y.z"</c>) from an install script, so the two never drift apart.</summary>
    private static string ScriptVersion(string script, string name)
    {
        var path = Path.Combine(RepositoryRoot, "scripts", script);
        var text = File.ReadAllText(path);
        var match = Regex.Match(text, "^" + Regex.Escape(name) + "=\"([^\"]+)\"", RegexOptions.Multiline);
        return match.Success ? match.Groups[1].Value : throw new InvalidOperationException($"{path} no longer defines {name}=\"...\"; update Toolchain.cs.");
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Gateway.sln above {AppContext.BaseDirectory}: run the tests from the repository.");
    }

    [GeneratedRegex("[^A-Za-z0-9._-]+")]
    private static partial Regex UnsafeFileNameChars();
}
