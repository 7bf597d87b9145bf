using System.Text;

namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// Reads the header and key/value metadata of a GGUF file. Tensor data is never read: we only need the tokenizer
/// metadata of llama.cpp's vocab-only files.
/// </summary>
internal static class GgufReader
{
    private const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32

    // Guards against reading a corrupt length as a multi-gigabyte allocation.
    private const ulong MaxStringBytes = 64UL * 1024 * 1024;
    private const ulong MaxArrayItems = 64UL * 1024 * 1024;

    public static GgufMetadata ReadMetadata(string path)
    {
        try
        {
            return Read(path);
        }
        catch (EndOfStreamException)
        {
            // BinaryReader's own message does not say which file was short.
            throw new InvalidDataException($"{path}: truncated or not a GGUF file.");
        }
    }

    private static GgufMetadata Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: false);

        uint magic = reader.ReadUInt32();
        if (magic != Magic)
        {
            throw new InvalidDataException($"{path}: not a GGUF file (magic 0x{magic:X8}).");
        }

        // Version 1 used 32-bit lengths everywhere; llama.cpp dropped it long ago and so do we.
        uint version = reader.ReadUInt32();
        if (version is not (2 or 3))
        {
            throw new InvalidDataException($"{path}: unsupported GGUF version {version}.");
        }

        ulong tensorCount = reader.ReadUInt64();
        ulong kvCount = reader.ReadUInt64();
        var metadata = new GgufMetadata(version, tensorCount);
        for (ulong i = 0; i < kvCount; i++)
        {
            string key = ReadString(reader);
            var type = (GgufValueType)reader.ReadUInt32();
            metadata.Set(key, ReadValue(reader, type));
        }

        return metadata;
    }

    private static GgufValue ReadValue(BinaryReader reader, GgufValueType type)
    {
        if (type != GgufValueType.Array)
        {
            return GgufValue.Scalar(type, ReadScalar(reader, type));
        }

        // llama.cpp's own reader rejects arrays of arrays, so a file containing one is not worth supporting.
        var elementType = (GgufValueType)reader.ReadUInt32();
        ulong count = reader.ReadUInt64();
        if (count > MaxArrayItems)
        {
            throw new InvalidDataException($"GGUF array of {count} items is implausibly large.");
        }

        int n = (int)count;
        System.Array items = elementType switch
        {
            GgufValueType.UInt8 => reader.ReadBytes(n),
            GgufValueType.Int8 => Fill(n, () => reader.ReadSByte()),
            GgufValueType.UInt16 => Fill(n, () => reader.ReadUInt16()),
            GgufValueType.Int16 => Fill(n, () => reader.ReadInt16()),
            GgufValueType.UInt32 => Fill(n, () => reader.ReadUInt32()),
            GgufValueType.Int32 => Fill(n, () => reader.ReadInt32()),
            GgufValueType.Float32 => Fill(n, () => reader.ReadSingle()),
            GgufValueType.Bool => Fill(n, () => reader.ReadByte() != 0),
            GgufValueType.String => Fill(n, () => ReadString(reader)),
            GgufValueType.UInt64 => Fill(n, () => reader.ReadUInt64()),
            GgufValueType.Int64 => Fill(n, () => reader.ReadInt64()),
            GgufValueType.Float64 => Fill(n, () => reader.ReadDouble()),
            _ => throw new InvalidDataException($"Unknown GGUF array element type {(uint)elementType}."),
        };
        if (items.Length != n)
        {
            throw new EndOfStreamException("GGUF array is truncated.");
        }

        return GgufValue.Array(elementType, items);
    }

    private static object ReadScalar(BinaryReader reader, GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => reader.ReadByte(),
        GgufValueType.Int8 => reader.ReadSByte(),
        GgufValueType.UInt16 => reader.ReadUInt16(),
        GgufValueType.Int16 => reader.ReadInt16(),
        GgufValueType.UInt32 => reader.ReadUInt32(),
        GgufValueType.Int32 => reader.ReadInt32(),
        GgufValueType.Float32 => reader.ReadSingle(),
        GgufValueType.Bool => reader.ReadByte() != 0,
        GgufValueType.String => ReadString(reader),
        GgufValueType.UInt64 => reader.ReadUInt64(),
        GgufValueType.Int64 => reader.ReadInt64(),
        GgufValueType.Float64 => reader.ReadDouble(),
        _ => throw new InvalidDataException($"Unknown GGUF value type {(uint)type}."),
    };

    private static string ReadString(BinaryReader reader)
    {
        ulong length = reader.ReadUInt64();
        if (length > MaxStringBytes)
        {
            throw new InvalidDataException($"GGUF string of {length} bytes is implausibly large.");
        }

        byte[] bytes = reader.ReadBytes((int)length);
        if ((ulong)bytes.Length != length)
        {
            throw new EndOfStreamException("GGUF string is truncated.");
        }

        // Token texts are byte-level BPE strings and always valid UTF-8; a lossy decode here would silently corrupt
        // the vocabulary, so decoding strictly turns that into a loud error instead.
        return StrictUtf8.GetString(bytes);
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static T[] Fill<T>(int count, Func<T> read)
    {
        var items = new T[count];
        for (int i = 0; i < count; i++)
        {
            items[i] = read();
        }

        return items;
    }
}
