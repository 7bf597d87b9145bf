using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LlamaGateway.PrefillChunking;

namespace LlamaGateway.Tests.PrefillChunking;

public sealed class PromptCutTests
{
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [Fact]
    public void Find_PlainText_CutsJustBeforeTheFirstSpaceFromTheTarget()
    {
        var escaped = "alpha beta gamma delta"u8;

        Assert.Equal(10, PromptCut.Find(escaped, 0, 7));
        Assert.Equal(5, PromptCut.Find(escaped, 0, 5));
    }

    [Fact]
    public void Find_TargetInsideAnEscape_CutsAfterTheWholeEscape()
    {
        // "ab\ncd\u00e9f" escaped: the target lands on the 'n' of \n, then inside \u00e9.
        var escaped = Encoding.ASCII.GetBytes("ab\\ncd\\u00e9fgh");

        Assert.Equal(4, Boundary(escaped, 3));
        Assert.Equal(12, Boundary(escaped, 8));
    }

    [Fact]
    public void Find_EscapedSurrogatePair_NeverCutBetweenItsHalves()
    {
        var escaped = Encoding.ASCII.GetBytes("x\\ud83d\\ude00y");

        Assert.Equal(13, Boundary(escaped, 4));
        Assert.Equal(13, Boundary(escaped, 7));
    }

    [Fact]
    public void Find_MultiByteUtf8_NeverInsideASequence()
    {
        var escaped = Encoding.UTF8.GetBytes("a\u00e9\u4e2d\U0001F600b");

        // 'a' (1) + é (2) + 中 (3) + 😀 (4) + 'b': boundaries at 0, 1, 3, 6, 10, 11.
        Assert.Equal(3, Boundary(escaped, 2));
        Assert.Equal(6, Boundary(escaped, 4));
        Assert.Equal(10, Boundary(escaped, 7));
    }

    [Fact]
    public void Find_NoSpaceWithinTheLookahead_FirstBoundaryAtTheTarget()
    {
        var escaped = Encoding.ASCII.GetBytes(new string('x', 1000) + " tail");

        Assert.Equal(100, PromptCut.Find(escaped, 0, 100));
        Assert.Equal(1000, PromptCut.Find(escaped, 0, 1000 - (PromptCut.SpaceLookahead / 2)));
    }

    [Fact]
    public void Find_TargetPastTheEnd_ReturnsTheLength()
    {
        var escaped = "short text"u8;

        Assert.Equal(escaped.Length, PromptCut.Find(escaped, 0, 50));
    }

    [Theory]
    [InlineData(20261203)]
    [InlineData(7)]
    public void Find_RandomTextsAndTargets_EveryPrefixIsAJsonStringWhoseTextStartsTheWhole(int seed)
    {
        // What a chunk sends must parse as a JSON string and be a prefix of the prompt's text, or llama-server would
        // reject it or cache something the request does not start with.
        var random = new Random(seed);
        string[] pieces = ["word", " ", "\n", "\t", "\"", "\\", "é", "中文", "😀", "\u0001", "<|im_start|>", "{\"a\":1}", "\r\n"];
        for (var i = 0; i < 300; i++)
        {
            var text = new StringBuilder();
            for (var n = random.Next(1, 400); n > 0; n--)
            {
                text.Append(pieces[random.Next(pieces.Length)]);
            }

            var whole = text.ToString();
            var json = JsonSerializer.SerializeToUtf8Bytes(whole, random.Next(2) == 0 ? Relaxed : JsonSerializerOptions.Default);
            var escaped = json.AsSpan(1, json.Length - 2);
            var cut = 0;
            while (cut < escaped.Length)
            {
                var next = PromptCut.Find(escaped, cut, cut + random.Next(1, 40));
                Assert.True(next > cut, $"no progress at {cut}");
                var prefix = JsonSerializer.Deserialize<string>([(byte)'"', .. escaped[..next], (byte)'"']);
                Assert.NotNull(prefix);
                Assert.StartsWith(prefix, whole, StringComparison.Ordinal);
                cut = next;
            }
        }
    }

    /// <summary>The boundary the cut lands on when no space follows (the bytes here have none).</summary>
    private static int Boundary(byte[] escaped, int target) => PromptCut.Find(escaped, 0, target);
}
