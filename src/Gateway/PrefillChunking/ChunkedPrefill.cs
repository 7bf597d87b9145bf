namespace LlamaGateway.PrefillChunking;

/// <summary>
/// What the chunker did for one request before it was forwarded: chunks sent, the tokens llama-server computed for
/// them and the milliseconds that took, how many tokens of the prompt the slot held after the last one, and how long
/// the request gave way to shorter prompts between chunks.
/// </summary>
internal sealed record ChunkedPrefill(int Chunks, int ComputedTokens, double Milliseconds, int PrefilledTokens, TimeSpan Yielded);
