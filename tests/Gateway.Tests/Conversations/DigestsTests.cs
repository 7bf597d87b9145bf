using LlamaGateway.Conversations;

namespace LlamaGateway.Tests.Conversations;

/// <summary>The digests name slot files on disk: they must stay the reference XXH64 values, however they are computed.</summary>
public sealed class DigestsTests
{
    private const ulong Seed = 0x9E3779B97F4A7C15;

    /// <summary>Input: byte i is i*7 mod 251.</summary>
    private static byte[] Data(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 % 251)).ToArray();

    // Reference digests from the xxHash C library (libxxhash 0.8.1, XXH64) for Data(length), seeds 0 and Seed.
    [Theory]
    [InlineData(0, 0xEF46DB3751D8E999UL, 0xC4349FC93C010000UL)]
    [InlineData(1, 0xE934A84ADB052768UL, 0x126BB57A12364AA5UL)]
    [InlineData(3, 0x9FF70A635A6209ABUL, 0xD169D7C1CB5E443FUL)]
    [InlineData(4, 0xAE5ACDC00A55AC41UL, 0xAEEC91BDFD4F8A43UL)]
    [InlineData(7, 0xD734A6B26F3DA63EUL, 0x60BF31ABF53F85DDUL)]
    [InlineData(8, 0x87116B3365B924EBUL, 0xCFCFD09B165B3EDBUL)]
    [InlineData(9, 0x340667A92C4324FFUL, 0xB30637B5499761EDUL)]
    [InlineData(15, 0x02C53AB1E360882FUL, 0x778BED279107DF97UL)]
    [InlineData(16, 0xED1DD2FAC0A31FBCUL, 0xD4464228F8B0E4FEUL)]
    [InlineData(17, 0x758409C57CD5D0A2UL, 0x2918EA6DC26BE77CUL)]
    [InlineData(31, 0x0F187C62B1E722B7UL, 0x74A5C408B232704DUL)]
    [InlineData(32, 0x91B0CB0931A8C629UL, 0xFFED706A1999BB4FUL)]
    [InlineData(33, 0x931B043CF8D65B94UL, 0x5D3268A30EB755D3UL)]
    [InlineData(63, 0x575186C12DCEBCFDUL, 0xB9BF8B1566E96B86UL)]
    [InlineData(64, 0xAB64977B5AF9D022UL, 0x8BE4947AF978F6E7UL)]
    [InlineData(65, 0x0C05311737AACE2AUL, 0x1FC7D9EBD3897E4BUL)]
    [InlineData(100, 0xB7FE1D84B2F23A05UL, 0xCE428A94B53F3338UL)]
    [InlineData(255, 0x23ED94ACA21B9530UL, 0x473AAE8D2EEEDF77UL)]
    [InlineData(1000, 0x023FD2ED1FF957D5UL, 0x1A642E5B087D6D75UL)]
    public void Of_ReferenceVectors_MatchCLibrary(int length, ulong unseeded, ulong seeded)
    {
        Assert.Equal(unseeded, Digests.Of(Data(length)));
        Assert.Equal(seeded, Digests.Of(Data(length), Seed));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(200)]
    [InlineData(1000)]
    public void DigestBuilder_AnyNumberOfValues_EqualsOneShotOverTheirBytes(int values)
    {
        var bytes = new byte[values * 8];
        var builder = new DigestBuilder(stackalloc byte[DigestBuilder.InlineBytes], Seed);
        for (var i = 0; i < values; i++)
        {
            var value = 0x0101010101010101UL * (ulong)(i % 251) + (ulong)i;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), value);
            builder.AppendUInt64(value);
        }

        Assert.Equal(Digests.Of(bytes, Seed), builder.GetDigest());
    }

    [Fact]
    public void DigestBuilder_MixedWidths_AreLittleEndianBytes()
    {
        byte[] bytes = [7, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        var builder = new DigestBuilder(stackalloc byte[DigestBuilder.InlineBytes], 0);

        builder.AppendByte(7);
        builder.AppendInt32(1);
        builder.AppendUInt64(0x0807060504030201);

        Assert.Equal(Digests.Of(bytes), builder.GetDigest());
    }

    [Fact]
    public void DigestBuilder_GetDigestMidStreamAfterSpill_DoesNotDisturbState()
    {
        var builder = new DigestBuilder(stackalloc byte[16], Seed);
        var bytes = new byte[5 * 8];
        for (var i = 0; i < 5; i++)
        {
            bytes[i * 8] = (byte)i;
            builder.AppendUInt64((ulong)i);
        }

        var first = builder.GetDigest();
        Assert.Equal(Digests.Of(bytes, Seed), first);
        Assert.Equal(first, builder.GetDigest());
    }

    [Fact]
    public void Combine_IsTheDigestOfBothLittleEndianValues()
    {
        byte[] bytes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

        Assert.Equal(Digests.Of(bytes), Digests.Combine(0x0807060504030201, 0x100F0E0D0C0B0A09));
    }
}
