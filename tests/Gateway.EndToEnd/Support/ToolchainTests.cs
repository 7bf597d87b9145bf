namespace LlamaGateway.EndToEnd.Support;

/// <summary>A machine without the binaries must fail loudly with what to run, never skip (tests run one at a time).</summary>
[Trait("Category", "e2e")]
public sealed class ToolchainTests : IDisposable
{
    private readonly string _emptyCache = Directory.CreateTempSubdirectory("llama-gateway-e2e-cache-").FullName;
    private readonly Dictionary<string, string?> _saved = new();

    [Fact]
    public void LlamaServer_MissingOutsideCi_FailsNamingSetupScript()
    {
        Set("LLAMA_SERVER", null);
        Set("GATEWAY_CACHE", _emptyCache);
        Set("CI", null);

        var error = Assert.Throws<InvalidOperationException>(() => Toolchain.LlamaServer);

        Assert.Contains("bash scripts/setup.sh", error.Message);
        Assert.Contains(_emptyCache, error.Message);
    }

    [Fact]
    public void FastModel_MissingInCi_FailsSayingNeverSkipped()
    {
        Set("TINY_MODEL", null);
        Set("GATEWAY_CACHE", _emptyCache);
        Set("CI", "true");

        var error = Assert.Throws<InvalidOperationException>(() => Toolchain.FastModel);

        Assert.Contains("CI=true", error.Message);
        Assert.Contains("never skipped", error.Message);
    }

    [Fact]
    public void ClaudeCode_VariableNamesNoFile_FailsNamingTheVariable()
    {
        Set("CLAUDE_CODE", Path.Combine(_emptyCache, "no-such-claude"));

        var error = Assert.Throws<InvalidOperationException>(() => Toolchain.ClaudeCode);

        Assert.Contains("CLAUDE_CODE=", error.Message);
    }

    public void Dispose()
    {
        foreach (var (name, value) in _saved)
        {
            Environment.SetEnvironmentVariable(name, value);
        }

        Directory.Delete(_emptyCache, recursive: true);
    }

    private void Set(string name, string? value)
    {
        _saved.TryAdd(name, Environment.GetEnvironmentVariable(name));
        Environment.SetEnvironmentVariable(name, value);
    }
}
