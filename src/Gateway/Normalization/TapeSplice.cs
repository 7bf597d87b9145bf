namespace LlamaGateway.Normalization;

/// <summary>Where on a tape the normalizer copied a value from <see cref="UnchangedValueCache"/>: the index of its first entry.</summary>
internal readonly record struct TapeSplice(int Index, CachedValue Value);
