namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// Hyperparameters of a generated llama-architecture model, with the named presets the CLI offers.
/// A record so the CLI can override single fields of a preset with a `with` expression.
/// </summary>
internal sealed record ModelShape
{
    // 128K: llama-server caps a slot's context at the model's training context, and tests send ~60K-token prompts.
    private const int DefaultContextLength = 131072;

    public required string Name { get; init; }

    public required int EmbeddingLength { get; init; }

    public required int BlockCount { get; init; }

    public required int HeadCount { get; init; }

    public required int HeadCountKv { get; init; }

    public required int FeedForwardLength { get; init; }

    public int ContextLength { get; init; } = DefaultContextLength;

    public int HeadDim => EmbeddingLength / HeadCount;

    public int KvLength => HeadDim * HeadCountKv;

    /// <summary>
    /// "fast": as small as llama.cpp will comfortably run, for functional tests where only the plumbing matters.
    /// </summary>
    public static ModelShape Fast { get; } = new()
    {
        Name = "fast",
        EmbeddingLength = 64,
        BlockCount = 2,
        HeadCount = 4,
        HeadCountKv = 4,
        FeedForwardLength = 256,
    };

    /// <summary>
    /// "bench": n_embd 256, 4 layers and head_dim 64 like real models (so the attention kernels take their usual
    /// paths), with prefill near 1,500-1,700 tokens/s for a 10K-token prompt on 2 cores, so long-prompt and
    /// cache-reuse timings are measurable but short. The feed-forward width is the tuning knob and is unusually wide
    /// (64 x n_embd) because ggml's batched matmuls are so efficient: on an idle 2-core EPYC a normal 4 x n_embd FFN
    /// prefills ~3,500 tokens/s, 8192 ~2,300, 12288 ~1,960 and 16384 ~1,550. A wide FFN also makes the per-token cost depend less
    /// on prompt length (attention grows with it), as it does for real models.
    /// </summary>
    public static ModelShape Bench { get; } = new()
    {
        Name = "bench",
        EmbeddingLength = 256,
        BlockCount = 4,
        HeadCount = 4,
        HeadCountKv = 4,
        FeedForwardLength = 16384,
    };

    public static IReadOnlyList<ModelShape> Presets { get; } = [Fast, Bench];

    public static ModelShape FromName(string name) =>
        Presets.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown size '{name}'; expected one of: {string.Join(", ", Presets.Select(p => p.Name))}.");

    public void Validate()
    {
        if (EmbeddingLength % HeadCount != 0 || HeadCount % HeadCountKv != 0 || HeadDim % 2 != 0)
        {
            throw new ArgumentException(
                $"Shape {Name}: embedding {EmbeddingLength} must split evenly into {HeadCount} heads of even size, " +
                $"and {HeadCount} heads into {HeadCountKv} KV heads.");
        }
    }

    public override string ToString() =>
        $"{Name}: n_embd={EmbeddingLength} n_layer={BlockCount} n_head={HeadCount} n_head_kv={HeadCountKv} " +
        $"head_dim={HeadDim} n_ff={FeedForwardLength} n_ctx_train={ContextLength}";
}
