using System.Buffers;

namespace LlamaGateway.PrefillChunking;

/// <summary>
/// A rendered prompt as llama-server tokenizes it (<c>/tokenize</c> with the flags its completion endpoints use), in a
/// pooled array: chunks are prefixes of it, sent as token ids, so llama-server neither tokenizes each prefix again nor
/// can a cut fall inside a token.
/// </summary>
internal sealed class PromptTokens(int[] rented, int count) : IDisposable
{
    private int[]? _rented = rented;

    public int Count { get; } = count;

    public ReadOnlyMemory<int> Tokens => (_rented ?? throw new ObjectDisposedException(nameof(PromptTokens))).AsMemory(0, Count);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _rented, null) is { } array)
        {
            ArrayPool<int>.Shared.Return(array);
        }
    }
}
