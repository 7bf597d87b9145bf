using System.Buffers.Binary;

namespace LlamaGateway.Conversations;

/// <summary>
/// Collects one content block's fields in any order and digests the ones that reach the prompt for its type. Field
/// order, cache_control and citations never change the digest, so the same block hashes alike whether it was sent as
/// a string, as an array element, with or without a cache marker.
/// </summary>
internal struct BlockAccumulator
{
    private const ulong BlockSeed = 0x626C6F636B763031; // "blockv01"

    private ulong _type;
    private bool _hasType;
    private BlockType _blockType;
    private uint _present;
    private FieldSums _sums;

    public readonly BlockType BlockType => _blockType;

    public void SetType(ulong typeDigest, BlockType blockType)
    {
        _type = typeDigest;
        _hasType = true;
        _blockType = blockType;
    }

    public void Add(BlockField field, ulong nameDigest, ulong valueDigest)
    {
        // A sum, not a sequence: commutative, so field order does not matter; unlike XOR a repeated field does not cancel.
        _sums[(int)field] += Digests.Combine(nameDigest, valueDigest);
        _present |= 1u << (int)field;
    }

    /// <summary>Whether <paramref name="field"/> counts for the type set so far (callers skip the rest unhashed).</summary>
    public readonly bool Includes(BlockField field) => (Included(_blockType) & Bits(field)) != 0;

    public readonly ulong Digest()
    {
        Span<byte> canonical = stackalloc byte[8 + 1 + 4 + (8 * FieldSums.Count)];
        BinaryPrimitives.WriteUInt64LittleEndian(canonical, _hasType ? _type : 0);
        canonical[8] = _hasType ? (byte)1 : (byte)0;
        var included = _present & Included(_blockType);
        BinaryPrimitives.WriteUInt32LittleEndian(canonical[9..], included);
        var length = 13;
        for (var field = 0; field < FieldSums.Count; field++)
        {
            if ((included & (1u << field)) != 0)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(canonical[length..], _sums[field]);
                length += 8;
            }
        }

        return Digests.Of(canonical[..length], BlockSeed);
    }

    /// <summary>The fields that make up a block's content for its type; an unknown type keeps everything.</summary>
    private static uint Included(BlockType type) => type switch
    {
        BlockType.Text => Bits(BlockField.Text),
        BlockType.ToolUse => Bits(BlockField.Id) | Bits(BlockField.Name) | Bits(BlockField.Input),
        BlockType.ToolResult => Bits(BlockField.ToolUseId) | Bits(BlockField.Content) | Bits(BlockField.IsError),
        BlockType.Thinking => Bits(BlockField.Thinking),
        BlockType.RedactedThinking => Bits(BlockField.Data),
        BlockType.Image or BlockType.Document => Bits(BlockField.Source),
        BlockType.ImageUrl => Bits(BlockField.ImageUrl),
        _ => ~(Bits(BlockField.CacheControl) | Bits(BlockField.Citations)),
    };

    private static uint Bits(BlockField field) => 1u << (int)field;

    [System.Runtime.CompilerServices.InlineArray(Count)]
    private struct FieldSums
    {
        public const int Count = (int)BlockField.Other + 1;

        private ulong _first;
    }
}
