using System.Text;
using LlamaGateway.Errors;

namespace LlamaGateway.Tests.Forwarding;

public sealed class BoundedTextTests
{
    [Fact]
    public void Truncate_ShortText_IsTheSameInstance()
    {
        var text = new string('a', BoundedText.MaxChars);

        Assert.Same(text, BoundedText.Truncate(text));
    }

    [Fact]
    public void Truncate_LongText_KeepsTheStartAndSaysHowMuchWasLeftOut()
    {
        var text = new string('a', 8 * 1024 * 1024);

        var bounded = BoundedText.Truncate(text);

        Assert.StartsWith(new string('a', BoundedText.MaxChars) + "…", bounded);
        Assert.Contains($"{8 * 1024 * 1024 - BoundedText.MaxChars:N0} more characters", bounded);
        Assert.True(bounded.Length < BoundedText.MaxChars + 80);
    }

    [Fact]
    public void Truncate_CutInsideASurrogatePair_KeepsThePairWhole()
    {
        var text = new string('a', BoundedText.MaxChars - 1) + "\U0001F600" + "tail";

        var bounded = BoundedText.Truncate(text);

        Assert.StartsWith(new string('a', BoundedText.MaxChars - 1) + "…", bounded);
    }

    [Fact]
    public void FromUtf8_CutInsideAMultiByteCharacter_BacksOffToItsStart()
    {
        var bytes = Encoding.UTF8.GetBytes(new string('a', BoundedText.MaxChars - 1) + "日本");

        var bounded = BoundedText.FromUtf8(bytes);

        Assert.StartsWith(new string('a', BoundedText.MaxChars - 1) + "…", bounded);
        Assert.DoesNotContain('\uFFFD', bounded);
    }
}
