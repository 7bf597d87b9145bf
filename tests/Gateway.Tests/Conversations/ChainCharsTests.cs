using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Normalization;

namespace LlamaGateway.Tests.Conversations;

public sealed class ChainCharsTests
{
    [Fact]
    public void Compute_RecordedTurn_ChainCharsGrowFromPrefixToPromptSize()
    {
        var fingerprint = FingerprintRun.Recorded("turn2-continue", NormalizerRun.Replace());

        Assert.Equal(fingerprint.Chain.Length, fingerprint.ChainChars.Length);
        Assert.True(fingerprint.PrefixChars > 10_000, $"system + tools of a Claude Code request are large, got {fingerprint.PrefixChars}");
        var previous = fingerprint.PrefixChars;
        foreach (var chars in fingerprint.ChainChars)
        {
            Assert.True(chars > previous, "each message adds characters");
            previous = chars;
        }

        Assert.Equal(fingerprint.PromptChars, fingerprint.ChainChars[^1]);
    }

    [Fact]
    public void Compute_NextTurn_SharedLinksCountTheSameCharacters()
    {
        var turn1 = FingerprintRun.Recorded("turn1-first", NormalizerRun.Replace());
        var turn2 = FingerprintRun.Recorded("turn2-continue", NormalizerRun.Replace());

        Assert.Equal(turn1.Chain[0], turn2.Chain[0]);
        Assert.Equal(turn1.PrefixChars, turn2.PrefixChars);
        Assert.Equal(turn1.ChainChars[0], turn2.ChainChars[0]);
    }

    [Fact]
    public void Compute_RawPrompt_ChainCharsAreChunkBoundaries()
    {
        var prompt = new string('x', 3000);
        var fingerprint = FingerprintRun.Of($$"""{"prompt":"{{prompt}}","n_predict":5}""", ApiRoute.Completion);

        // The first chunk is the prefix key; a partial last chunk adds no link.
        Assert.Equal([2048], fingerprint.ChainChars);
        Assert.Equal(1024, fingerprint.PrefixChars);
    }
}
