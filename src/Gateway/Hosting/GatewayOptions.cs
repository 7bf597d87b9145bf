using LlamaGateway.Auth;
using LlamaGateway.Normalization;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Hosting;

/// <summary>The <c>Gateway</c> configuration section.</summary>
internal sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    /// <summary>The llama-server pool.</summary>
    public List<UpstreamOptions> Upstreams { get; set; } = [];

    public NormalizationOptions Normalization { get; set; } = new();

    public TimeoutOptions Timeouts { get; set; } = new();

    public HealthOptions Health { get; set; } = new();

    public ShutdownOptions Shutdown { get; set; } = new();

    /// <summary>Largest accepted request body; Claude Code bodies with images get large (default 32 MiB).</summary>
    public long MaxRequestBodyBytes { get; set; } = 32L * 1024 * 1024;

    /// <summary>The team; when empty the API is open to anyone who can reach the gateway.</summary>
    public List<UserOptions> Users { get; set; } = [];

    /// <summary>Key for the full dashboard and /metrics (or give <see cref="AdminApiKeySha256"/> or <see cref="AdminApiKeyEnv"/>).</summary>
    public string? AdminApiKey { get; set; }

    /// <summary>Hex SHA-256 of the admin key.</summary>
    public string? AdminApiKeySha256 { get; set; }

    /// <summary>Environment variable holding the admin key.</summary>
    public string? AdminApiKeyEnv { get; set; }

    public LimitsOptions Limits { get; set; } = new();

    /// <summary>
    /// Whose cached prompt tokens a request may reuse: <c>Shared</c> (default) or <c>PerUser</c>
    /// (<see cref="Routing.IsolationMode"/>). Read at start-up.
    /// </summary>
    public string Isolation { get; set; } = nameof(Routing.IsolationMode.Shared);
}
