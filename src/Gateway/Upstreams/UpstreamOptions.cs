using LlamaGateway.Pipeline;

namespace LlamaGateway.Upstreams;

/// <summary>One llama-server (or other model server) instance in the pool: <c>Gateway:Upstreams[i]</c>.</summary>
internal sealed class UpstreamOptions
{
    /// <summary>Short unique name used in logs, the dashboard and metrics.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>Base URL, e.g. <c>http://127.0.0.1:8080</c>.</summary>
    public string BaseUrl { get; set; } = string.Empty;

    /// <summary>Number of parallel slots (<c>-np</c>); discovered from <c>GET /props</c> <c>total_slots</c> when unset.</summary>
    public int? Slots { get; set; }

    /// <summary>
    /// <c>openai</c>: llama-server's OpenAI-compatible endpoints, so the gateway can pin slots with <c>id_slot</c> (default).
    /// <c>anthropic</c>: forward <c>/v1/messages</c> as is (no slot pinning: llama-server drops id_slot there).
    /// </summary>
    public string Dialect { get; set; } = "openai";

    /// <summary>Key sent upstream as <c>Authorization: Bearer</c> (llama-server <c>--api-key</c>); never a caller's key.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Clamp for a request's max_tokens; Claude Code asks for 128,000 which a small server may not want.</summary>
    public int? MaxOutputTokens { get; set; }

    /// <summary>Saving slot states to llama-server's <c>--slot-save-path</c> and restoring them (off by default).</summary>
    public SlotPersistence.SlotSaveOptions SlotSave { get; set; } = new();

    internal ApiDialect ParsedDialect => string.Equals(Dialect, "anthropic", StringComparison.OrdinalIgnoreCase) ? ApiDialect.Anthropic : ApiDialect.OpenAi;
}
