namespace LlamaGateway.Normalization;

/// <summary>The normalizer's knobs for one request, resolved from configuration and the upstream's dialect.</summary>
/// <param name="BillingHeader">What to do with the billing line.</param>
/// <param name="BillingHeaderValue">The value written after <c>x-anthropic-billing-header: </c> in Replace mode.</param>
/// <param name="FoldSystemMessages">Fold mid-conversation <c>role: "system"</c> messages into a user turn.</param>
/// <param name="ReuseCache">Large values copied unchanged by earlier requests, reused instead of scanned again (none: scan all).</param>
internal readonly record struct NormalizationSettings(
    BillingHeaderMode BillingHeader,
    string BillingHeaderValue,
    bool FoldSystemMessages,
    UnchangedValueCache? ReuseCache = null)
{
    public const string DefaultBillingHeaderValue = "cc_version=0.0.0; cc_entrypoint=gateway;";

    public static NormalizationSettings Default { get; } = new(BillingHeaderMode.Replace, DefaultBillingHeaderValue, FoldSystemMessages: true);
}
