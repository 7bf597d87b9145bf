using System.Text;
using LlamaGateway.Normalization;

namespace LlamaGateway.Tests.Normalization;

public sealed class TextLengthTests
{
    [Theory]
    [InlineData("")]
    [InlineData("plain ascii")]
    [InlineData("café")]
    [InlineData("日本語のテキスト")]
    [InlineData("emoji 😀 and 👍🏽 mixed with text")]
    public void Utf16_AnyText_EqualsStringLength(string text)
    {
        for (var repeat = 1; repeat <= 40; repeat += 13)
        {
            var value = string.Concat(Enumerable.Repeat(text, repeat)) + "x" + text;
            Assert.Equal(value.Length, TextLength.Utf16(Encoding.UTF8.GetBytes(value)));
        }
    }
}
