namespace LlamaGateway.Translation;

/// <summary>
/// What the gateway does with a top-level request field (docs/fields.md has the table). A field reaches "beyond the
/// request" when llama-server would let it touch another slot, another user's cache, the shared batch, or the
/// request's output budget; those the gateway owns. The rest pass, type-checked where llama-server would choke.
/// </summary>
internal enum FieldOwnership : byte
{
    /// <summary>Forwarded as sent, once its JSON type (and range, where llama-server has one) is checked.</summary>
    Passed,

    /// <summary>Dropped; the gateway writes its own value (<c>id_slot</c>: the pinned slot, <c>cache_prompt</c>: true).</summary>
    Replaced,

    /// <summary>Dropped: llama-server's default is what the gateway needs (see the field's reason in docs/fields.md).</summary>
    Dropped,

    /// <summary>
    /// An output-token limit in one of its spellings: any numeric form of an integer, dropped, and the one llama-server
    /// would obey (its own order of spellings) written back once, clamped to the instance's <c>MaxOutputTokens</c>.
    /// </summary>
    OutputLimit,

    /// <summary><c>n</c> / <c>n_cmpl</c>: extra completions run on other users' idle slots; only 1 is accepted.</summary>
    SingleCompletion,

    /// <summary>A number clamped to <see cref="FieldRule.Max"/> (log-probabilities per token).</summary>
    Capped,

    /// <summary>Accepted only empty (null or []), then dropped: per-request LoRA adapters.</summary>
    EmptyOnly,

    /// <summary><c>/completion</c>'s <c>prompt</c>: one prompt; an array of several would run one task per prompt.</summary>
    SinglePrompt,
}
