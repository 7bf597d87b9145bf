namespace LlamaGateway.Auth;

/// <summary>
/// One team member: <c>Gateway:Users[i]</c>. The key is given in exactly one form; the hashed and environment forms
/// keep the secret out of the configuration file.
/// </summary>
internal sealed class UserOptions
{
    /// <summary>Shown on the dashboard and in metrics and logs (never the key).</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>The key itself (what the user puts in ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN).</summary>
    public string? ApiKey { get; set; }

    /// <summary>Hex SHA-256 of the key's UTF-8 bytes, e.g. from <c>printf %s "$KEY" | sha256sum</c>.</summary>
    public string? ApiKeySha256 { get; set; }

    /// <summary>Name of an environment variable holding the key, read at start-up.</summary>
    public string? ApiKeyEnv { get; set; }
}
