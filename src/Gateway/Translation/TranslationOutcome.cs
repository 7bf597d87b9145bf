namespace LlamaGateway.Translation;

/// <summary>Result of translating one request body. On failure <see cref="Error"/> explains it, for a 400.</summary>
/// <param name="Stream">Whether the client asked for a streamed response.</param>
/// <param name="Model">The model name the client asked for, echoed back in translated responses.</param>
internal readonly record struct TranslationOutcome(bool Success, string? Error, bool Stream, string Model)
{
    public static TranslationOutcome Fail(string error) => new(false, error, false, string.Empty);
}
