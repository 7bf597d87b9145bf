namespace LlamaGateway.Normalization;

/// <summary><c>Gateway:Normalization</c>: how request bodies are cleaned of cache-breaking noise.</summary>
internal sealed class NormalizationOptions
{
    /// <summary><c>Replace</c> (default), <c>Strip</c> or <c>Keep</c> the billing line.</summary>
    public string BillingHeader { get; set; } = nameof(BillingHeaderMode.Replace);

    /// <summary>Value that replaces the billing line's value in Replace mode.</summary>
    public string BillingHeaderValue { get; set; } = NormalizationSettings.DefaultBillingHeaderValue;

    /// <summary>
    /// <c>Auto</c> (default: on when the pool has an openai-dialect upstream, whose chat templates often reject a
    /// system message that is not first), <c>Always</c> or <c>Never</c>.
    /// </summary>
    public string FoldSystemMessages { get; set; } = "Auto";

    /// <summary>
    /// Memory for large values (1 KB and up) that requests repeat unchanged, such as earlier messages and the tools
    /// array, so they are compared instead of scanned again; 0 turns the reuse off. Read at start-up.
    /// </summary>
    public int ReuseCacheMegabytes { get; set; } = 128;

    internal BillingHeaderMode ParsedBillingHeader => Enum.TryParse<BillingHeaderMode>(BillingHeader, ignoreCase: true, out var mode) ? mode : BillingHeaderMode.Replace;
}
