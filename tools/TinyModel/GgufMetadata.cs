namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// The key/value metadata of a GGUF file, in file order. Order is kept because llama.cpp does not care but humans
/// diffing dumps of two generated files do.
/// </summary>
internal sealed class GgufMetadata
{
    private readonly List<KeyValuePair<string, GgufValue>> _entries = [];
    private readonly Dictionary<string, GgufValue> _byKey = new(StringComparer.Ordinal);

    public GgufMetadata(uint version = 3, ulong tensorCount = 0)
    {
        Version = version;
        TensorCount = tensorCount;
    }

    public uint Version { get; }

    /// <summary>Number of tensors the source file declared (metadata only files such as the vocab files have none).</summary>
    public ulong TensorCount { get; }

    public IReadOnlyList<KeyValuePair<string, GgufValue>> Entries => _entries;

    public int Count => _entries.Count;

    public void Set(string key, GgufValue value)
    {
        // Replacing in place keeps the original position, so overriding a copied key does not reorder the file.
        if (_byKey.ContainsKey(key))
        {
            int index = _entries.FindIndex(e => e.Key == key);
            _entries[index] = new(key, value);
        }
        else
        {
            _entries.Add(new(key, value));
        }

        _byKey[key] = value;
    }

    public bool TryGet(string key, out GgufValue value) => _byKey.TryGetValue(key, out value!);

    public GgufValue Get(string key) => _byKey.TryGetValue(key, out var value)
        ? value
        : throw new KeyNotFoundException($"GGUF metadata has no key '{key}'.");
}
