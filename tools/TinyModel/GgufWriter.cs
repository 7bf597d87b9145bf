using System.Text;

namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// Writes a GGUF v3 file: header, metadata, tensor descriptors, then the aligned tensor data.
/// </summary>
internal static class GgufWriter
{
    private const uint Magic = 0x46554747;
    private const uint Version = 3;
    public const string AlignmentKey = "general.alignment";

    public static void Write(string path, GgufMetadata metadata, IReadOnlyList<GgufTensor> tensors)
    {
        uint alignment = metadata.TryGet(AlignmentKey, out var a) ? checked((uint)a.AsInteger()) : 32;
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentException($"{AlignmentKey} must be a power of two, got {alignment}.");
        }

        // Offsets are relative to the start of the data section; every tensor starts on an aligned boundary so
        // llama.cpp can mmap the file and use the tensors in place.
        var offsets = new long[tensors.Count];
        long cursor = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            offsets[i] = cursor;
            cursor = AlignUp(cursor + tensors[i].ByteSize, alignment);
        }

        // Write beside the target and rename at the end, so an interrupted run never leaves a truncated model
        // where a later run (or llama-server) would take it for a good one.
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        string temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                using (var writer = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true))
                {
                    writer.Write(Magic);
                    writer.Write(Version);
                    writer.Write((ulong)tensors.Count);
                    writer.Write((ulong)metadata.Count);
                    foreach (var (key, value) in metadata.Entries)
                    {
                        WriteString(writer, key);
                        writer.Write((uint)value.Type);
                        WriteValue(writer, value);
                    }

                    for (int i = 0; i < tensors.Count; i++)
                    {
                        var tensor = tensors[i];
                        WriteString(writer, tensor.Name);
                        writer.Write((uint)tensor.Shape.Length);
                        foreach (long dim in tensor.Shape)
                        {
                            writer.Write((ulong)dim);
                        }

                        writer.Write((uint)tensor.Type);
                        writer.Write((ulong)offsets[i]);
                    }

                    writer.Flush();
                }

                Pad(file, alignment);
                long dataStart = file.Position;
                for (int i = 0; i < tensors.Count; i++)
                {
                    long expected = dataStart + offsets[i];
                    Pad(file, alignment);
                    if (file.Position != expected)
                    {
                        throw new InvalidOperationException($"Tensor {tensors[i].Name}: data at {file.Position}, descriptor says {expected}.");
                    }

                    tensors[i].WriteData(file);
                    long written = file.Position - expected;
                    if (written != tensors[i].ByteSize)
                    {
                        throw new InvalidOperationException($"Tensor {tensors[i].Name}: wrote {written} bytes, expected {tensors[i].ByteSize}.");
                    }
                }

                // Trailing padding is not required, but llama.cpp checks that the last tensor fits in the file and
                // padding keeps the file size equal to the computed data-section size.
                Pad(file, alignment);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    private static long AlignUp(long value, uint alignment) => (value + alignment - 1) / alignment * alignment;

    private static void Pad(Stream stream, uint alignment)
    {
        long padding = AlignUp(stream.Position, alignment) - stream.Position;
        for (long i = 0; i < padding; i++)
        {
            stream.WriteByte(0);
        }
    }

    private static void WriteString(BinaryWriter writer, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        writer.Write((ulong)bytes.Length);
        writer.Write(bytes);
    }

    private static void WriteValue(BinaryWriter writer, GgufValue value)
    {
        if (value.Type != GgufValueType.Array)
        {
            WriteScalar(writer, value.Type, value.Payload);
            return;
        }

        var items = (Array)value.Payload;
        writer.Write((uint)value.ElementType);
        writer.Write((ulong)items.Length);
        foreach (object item in items)
        {
            WriteScalar(writer, value.ElementType, item);
        }
    }

    private static void WriteScalar(BinaryWriter writer, GgufValueType type, object payload)
    {
        switch (type)
        {
            case GgufValueType.UInt8: writer.Write((byte)payload); break;
            case GgufValueType.Int8: writer.Write((sbyte)payload); break;
            case GgufValueType.UInt16: writer.Write((ushort)payload); break;
            case GgufValueType.Int16: writer.Write((short)payload); break;
            case GgufValueType.UInt32: writer.Write((uint)payload); break;
            case GgufValueType.Int32: writer.Write((int)payload); break;
            case GgufValueType.Float32: writer.Write((float)payload); break;
            case GgufValueType.Bool: writer.Write((byte)((bool)payload ? 1 : 0)); break;
            case GgufValueType.String: WriteString(writer, (string)payload); break;
            case GgufValueType.UInt64: writer.Write((ulong)payload); break;
            case GgufValueType.Int64: writer.Write((long)payload); break;
            case GgufValueType.Float64: writer.Write((double)payload); break;
            default: throw new NotSupportedException($"Cannot write GGUF value type {type}.");
        }
    }
}
