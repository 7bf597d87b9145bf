namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// A tensor to be written: its GGUF descriptor plus a callback that streams its bytes. Data is produced on demand
/// rather than held in memory so the embedding table (the bulk of the file) never needs a second copy.
/// </summary>
internal sealed class GgufTensor
{
    public GgufTensor(string name, long[] shape, GgmlType type, Action<Stream> writeData)
    {
        if (shape.Length is < 1 or > 4 || shape.Any(d => d <= 0))
        {
            throw new ArgumentException($"Tensor {name}: ggml tensors have 1-4 positive dimensions.", nameof(shape));
        }

        Name = name;
        Shape = shape;
        Type = type;
        WriteData = writeData;
    }

    public string Name { get; }

    /// <summary>ggml order: Shape[0] is the contiguous (row) dimension, e.g. {n_embd, n_vocab} for token_embd.</summary>
    public long[] Shape { get; }

    public GgmlType Type { get; }

    public Action<Stream> WriteData { get; }

    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    public long ByteSize => ElementCount * Type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 => 2,
        _ => throw new NotSupportedException($"Tensor type {Type} is not supported."),
    };
}
