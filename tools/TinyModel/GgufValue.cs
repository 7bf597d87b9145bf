namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// One GGUF metadata value. Scalars are held as their natural .NET type and arrays as typed .NET arrays
/// (string[], int[], float[], ...), so a value read from one file can be written to another unchanged:
/// the tokenizer keys we copy must keep their exact element types or llama.cpp rejects them.
/// </summary>
internal sealed class GgufValue
{
    private GgufValue(GgufValueType type, GgufValueType elementType, object payload)
    {
        Type = type;
        ElementType = elementType;
        Payload = payload;
    }

    public GgufValueType Type { get; }

    /// <summary>Element type when <see cref="Type"/> is Array; otherwise equal to <see cref="Type"/>.</summary>
    public GgufValueType ElementType { get; }

    /// <summary>The scalar, or a typed array of the element type.</summary>
    public object Payload { get; }

    public static GgufValue Scalar(GgufValueType type, object payload)
    {
        if (type == GgufValueType.Array)
        {
            throw new ArgumentException("Use Array() for array values.", nameof(type));
        }

        return new GgufValue(type, type, payload);
    }

    public static GgufValue Array(GgufValueType elementType, System.Array items)
    {
        // llama.cpp cannot read arrays of arrays, so refuse to build one rather than write an unloadable file.
        if (elementType == GgufValueType.Array)
        {
            throw new NotSupportedException("Nested GGUF arrays are not supported.");
        }

        return new GgufValue(GgufValueType.Array, elementType, items);
    }

    public static GgufValue String(string value) => Scalar(GgufValueType.String, value);

    public static GgufValue UInt32(uint value) => Scalar(GgufValueType.UInt32, value);

    public static GgufValue Float32(float value) => Scalar(GgufValueType.Float32, value);

    public static GgufValue Bool(bool value) => Scalar(GgufValueType.Bool, value);

    public int ArrayLength => Payload is System.Array items
        ? items.Length
        : throw new InvalidOperationException($"Value of type {Type} is not an array.");

    /// <summary>
    /// Reads an integer scalar whatever its stored width: token ids are UInt32 in files written by convert_hf_to_gguf,
    /// but other writers use Int32 or UInt64, and we only need the number.
    /// </summary>
    public long AsInteger() => Payload switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        ulong v => checked((long)v),
        long v => v,
        _ => throw new InvalidOperationException($"Value of type {Type} is not an integer."),
    };

    public string AsString() => Payload as string
        ?? throw new InvalidOperationException($"Value of type {Type} is not a string.");

    public override string ToString() => Type == GgufValueType.Array
        ? $"[{ElementType} x {ArrayLength}]"
        : $"{Type} {Payload}";
}
