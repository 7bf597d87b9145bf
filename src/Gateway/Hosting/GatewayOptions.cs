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
}
