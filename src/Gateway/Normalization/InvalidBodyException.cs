namespace LlamaGateway.Normalization;

/// <summary>
/// A body whose shape the normalizer cannot work with. Thrown only inside the normalizer, to unwind a deep rewrite in
/// one step, and always turned into a failed <see cref="NormalizationOutcome"/> before it reaches a caller.
/// </summary>
internal sealed class InvalidBodyException(string message) : Exception(message);
