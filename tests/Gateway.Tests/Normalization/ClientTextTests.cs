using System.Text;
using LlamaGateway.Normalization;

namespace LlamaGateway.Tests.Normalization;

public sealed class ClientTextTests
{
    [Theory]
    [InlineData("")]
    [InlineData("temperature")]
    public void Truncate_Short_Unchanged(string text)
    {
        Assert.Same(text, ClientText.Truncate(text));
    }

    [Fact]
    public void Truncate_Long_CutWithMarkerAndLength()
    {
        var text = new string('a', 8 * 1024 * 1024);

        var cut = ClientText.Truncate(text);

        Assert.StartsWith(new string('a', ClientText.MaxChars), cut, StringComparison.Ordinal);
        Assert.EndsWith("...[truncated, 8,388,608 chars]", cut, StringComparison.Ordinal);
        Assert.True(cut.Length < ClientText.MaxChars + 64, $"{cut.Length} chars");
    }

    [Fact]
    public void Truncate_SurrogatePairAtTheCut_NotSplit()
    {
        var text = new string('a', ClientText.MaxChars - 1) + "😀" + new string('b', 100);

        var cut = ClientText.Truncate(text);

        Assert.False(char.IsHighSurrogate(cut[ClientText.MaxChars - 2]) && !char.IsLowSurrogate(cut[ClientText.MaxChars - 1]));
        Assert.DoesNotContain('\ud83d', cut);
    }

    [Theory]
    [InlineData("é")]
    [InlineData("日")]
    [InlineData("😀")]
    [InlineData("a")]
    public void FromUtf8_LongMultibyte_CutBetweenCharactersWithMarker(string unit)
    {
        var bytes = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(unit, 1_000_000)));

        var cut = ClientText.FromUtf8(bytes);

        Assert.DoesNotContain('\ufffd', cut);
        Assert.Contains($"...[truncated, {bytes.Length:N0} bytes]", cut, StringComparison.Ordinal);
        Assert.True(cut.Length <= ClientText.MaxChars + 64, $"{cut.Length} chars");
        Assert.True(Encoding.UTF8.GetByteCount(cut) == Encoding.UTF8.GetBytes(cut).Length);
    }

    [Fact]
    public void FromUtf8_Short_Decoded()
    {
        Assert.Equal("max_tokens", ClientText.FromUtf8("max_tokens"u8));
    }
}
