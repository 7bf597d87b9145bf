namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// Metadata value type tags of the GGUF format. The numbers are part of the on-disk format (gguf.h),
/// so they must never be renumbered.
/// </summary>
internal enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}
