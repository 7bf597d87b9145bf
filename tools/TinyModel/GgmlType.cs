namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// The ggml tensor element types this generator writes. Only unquantized types are supported: quantized blocks
/// would need ggml's exact quantizers, and a random-weight test model gains nothing from them.
/// </summary>
internal enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
}
