namespace LlamaGateway.Routing;

/// <summary>
/// What the router expects of a prompt to be prefilled in chunks: its size and how much of it the slot holds (tokens,
/// from the router's estimates), the chunk size, and the instance's measured prefill speed (tokens per second).
/// </summary>
internal sealed record PrefillChunkPlan(double PromptTokens, double ReusableTokens, double ChunkTokens, double TokensPerSecond)
{
    /// <summary>
    /// Smallest chunk: each chunk is a request of its own, which llama-server parses and tokenizes from the start of
    /// the prompt, so chunks much smaller than a batch cost more in overhead than they save in waiting.
    /// </summary>
    public const double MinChunkTokens = 256;

    /// <summary>Least work, in chunks, for a prompt to be chunked while other slots of its instance are busy.</summary>
    public const int MinChunks = 2;

    /// <summary>
    /// Least work, in chunks, for a prompt to be chunked while no other slot of its instance is busy: a prompt that
    /// arrives during the unchunked prefill waits for less than this many chunks' worth.
    /// </summary>
    public const int AloneChunks = 4;

    /// <summary>Tokens still to compute when the prompt arrives, as far as the router knows.</summary>
    public double ExpectedTokens => Math.Max(0, PromptTokens - ReusableTokens);
}
