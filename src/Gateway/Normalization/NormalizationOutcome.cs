namespace LlamaGateway.Normalization;

/// <summary>The result of normalizing one body. On failure <see cref="Error"/> says what is wrong, for a 400.</summary>
internal readonly record struct NormalizationOutcome(bool Success, string? Error, int BillingLinesRewritten, int SystemMessagesFolded)
{
    public static NormalizationOutcome Fail(string error) => new(false, error, 0, 0);
}
