using LlamaGateway.Conversations;
using LlamaGateway.Routing;
using LlamaGateway.SlotPersistence;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Tests.SlotPersistence;

public sealed class SavedStateIndexTests
{
    private const ulong SharedPrefix = 0x5EED;
    private const long Mib = 1024 * 1024;

    private readonly UpstreamInstance _instance = new(new UpstreamOptions { Name = "gpu 1/a", BaseUrl = "http://127.0.0.1:1" });
    private readonly SavedStateIndex _index;
    private long _now = 1_000;

    public SavedStateIndexTests() => _index = new SavedStateIndex(_instance);

    private static SlotSaveOptions Options(long maxDiskMiB = 4096, int minTokens = 1024) => new() { Enabled = true, MaxDiskMiB = maxDiskMiB, MinTokens = minTokens };

    /// <summary>
    /// A conversation's state: its chain is <paramref name="conversation"/>'s links 1..<paramref name="links"/>; each
    /// conversation has its own system prompt (prefix key) unless <paramref name="sharedPrefix"/>.
    /// </summary>
    private static SlotContent State(string conversation, int links, int tokens, bool sharedPrefix = false) =>
        new(PrefixOf(conversation, sharedPrefix), Chain(conversation, links), Enumerable.Range(1, links).Select(i => i * 1_000).ToArray(), 500, tokens, conversation, "alice");

    private static ulong PrefixOf(string conversation, bool shared) => shared ? SharedPrefix : SharedPrefix + (ulong)(uint)conversation.GetHashCode(StringComparison.Ordinal);

    private static ulong[] Chain(string conversation, int links) =>
        Enumerable.Range(1, links).Select(i => ((ulong)(uint)conversation.GetHashCode(StringComparison.Ordinal) << 16) + (ulong)i).ToArray();

    /// <summary>A request of <paramref name="conversation"/> with <paramref name="links"/> messages; 1 token per char, 1,000 chars per message.</summary>
    private static ConversationFingerprint Request(string conversation, int links, bool sharedPrefix = false) => new()
    {
        PrefixKey = PrefixOf(conversation, sharedPrefix),
        Chain = Chain(conversation, links),
        ChainChars = Enumerable.Range(1, links).Select(i => i * 1_000).ToArray(),
        PrefixChars = 500,
        PromptChars = links * 1_000,
        ToolCount = 3,
        Model = "claude",
        MaxTokens = 1000,
    };

    /// <summary>Saves <paramref name="state"/> as llama-server would answer at 200 bytes per token.</summary>
    private SavedStateFile Save(SlotContent state, SlotSaveOptions? options = null)
    {
        var reservation = _index.ReserveSave(state, options ?? Options(), ++_now);
        Assert.True(reservation.File is not null, $"expected a file for {state.ConversationId}, got: {reservation.SkipReason}");
        _index.CompleteSave(reservation.File!, state, state.CachedTokens, state.CachedTokens * 200L, ++_now);
        return reservation.File!;
    }

    [Fact]
    public void ReserveSave_FirstState_TakesNewFileWithNameLlamaServerAccepts()
    {
        var file = Save(State("a", 3, 2_000));

        Assert.Equal("llama-gateway-gpu_1_a-0.bin", file.FileName);
        Assert.Equal(SavedStateIndex.FileName(_instance.Name, 0), file.FileName);
        var statistics = _index.Statistics(Options());
        Assert.Equal(1, statistics.Saves);
        Assert.Equal(400_000, statistics.BytesOnDisk);
        Assert.Equal(1, statistics.Files);
    }

    [Fact]
    public void ReserveSave_BelowMinTokens_IsSkippedWithoutCountingAsSkipped()
    {
        var reservation = _index.ReserveSave(State("a", 3, 1_023), Options(minTokens: 1_024), ++_now);

        Assert.Null(reservation.File);
        Assert.Contains("MinTokens", reservation.SkipReason, StringComparison.Ordinal);
        Assert.Equal(0, _index.Statistics(Options()).Skipped);
    }

    [Fact]
    public void ReserveSave_SamePromptAlreadySaved_IsSkipped()
    {
        var file = Save(State("a", 3, 2_000));

        var again = _index.ReserveSave(State("a", 3, 2_010), Options(), ++_now);

        Assert.Null(again.File);
        Assert.Contains(file.FileName, again.SkipReason, StringComparison.Ordinal);
    }

    [Fact]
    public void ReserveSave_NewerStateOfSameConversation_OverwritesItsOldFile()
    {
        var old = Save(State("a", 3, 2_000));
        Save(State("b", 3, 2_000));

        var newer = Save(State("a", 5, 3_000));

        Assert.Same(old, newer);
        var statistics = _index.Statistics(Options());
        Assert.Equal(2, statistics.FileNames);
        Assert.Equal((3_000 + 2_000) * 200L, statistics.BytesOnDisk);
    }

    [Fact]
    public void ReserveSave_BudgetFull_OverwritesLeastRecentlyUsedFileAndStaysWithinBudget()
    {
        // 2,000 tokens at 200 B/token = 400,000 B: two fit in 1 MiB, a third does not.
        var options = Options(maxDiskMiB: 1);
        var a = Save(State("a", 3, 2_000), options);
        var b = Save(State("b", 3, 2_000), options);

        var c = Save(State("c", 3, 2_000), options);

        Assert.Same(a, c);
        Assert.NotSame(b, c);
        Assert.Equal(0, _index.Restorable(Request("a", 4), 1.0).Tokens);
        Assert.Equal(2_000, _index.Restorable(Request("b", 4), 1.0).Tokens);
        Assert.Equal(2_000, _index.Restorable(Request("c", 4), 1.0).Tokens);
        var statistics = _index.Statistics(options);
        Assert.Equal(2, statistics.FileNames);
        Assert.True(statistics.BytesOnDisk <= 1 * Mib, $"{statistics.BytesOnDisk} B on disk");
    }

    [Fact]
    public void ReserveSave_RecentlyRestoredFile_IsKeptOverOlderOne()
    {
        var options = Options(maxDiskMiB: 1);
        var a = Save(State("a", 3, 2_000), options);
        var b = Save(State("b", 3, 2_000), options);
        var restore = _index.ReserveRestore(Request("a", 4), 1.0, 1_000)!;
        _index.CompleteRestore(restore.File, 2_000, 400_000, 5, ++_now);

        var c = Save(State("c", 3, 2_000), options);

        Assert.Same(a, restore.File);
        Assert.Same(b, c);
    }

    [Fact]
    public void ReserveSave_FileBeingRestored_IsNotOverwritten()
    {
        var options = Options(maxDiskMiB: 1);
        var a = Save(State("a", 3, 2_000), options);
        var b = Save(State("b", 3, 2_000), options);
        var reading = _index.ReserveRestore(Request("a", 4), 1.0, 1_000);
        Assert.Same(a, reading!.File);

        var c = Save(State("c", 3, 2_000), options);

        Assert.Same(b, c);
        Assert.Equal(2_000, _index.Restorable(Request("a", 4), 1.0).Tokens);
    }

    [Fact]
    public void ReserveSave_EveryFileBusyAndBudgetFull_IsSkippedAndCounted()
    {
        var options = Options(maxDiskMiB: 1);
        Save(State("a", 3, 2_000), options);
        Save(State("b", 3, 2_000), options);
        Assert.NotNull(_index.ReserveRestore(Request("a", 4), 1.0, 1_000));
        Assert.NotNull(_index.ReserveRestore(Request("b", 4), 1.0, 1_000));

        var reservation = _index.ReserveSave(State("c", 3, 2_000), options, ++_now);

        Assert.Null(reservation.File);
        Assert.Contains("MaxDiskMiB", reservation.SkipReason, StringComparison.Ordinal);
        Assert.Equal(1, _index.Statistics(options).Skipped);
    }

    [Fact]
    public void ReserveSave_StateLargerThanWholeBudget_IsSkipped()
    {
        var options = Options(maxDiskMiB: 1);
        Save(State("a", 3, 2_000), options);

        // 6,000 tokens at 200 B/token is 1.2 MB: it would not fit even alone.
        var reservation = _index.ReserveSave(State("b", 3, 6_000), options, ++_now);

        Assert.Null(reservation.File);
        Assert.Contains("more than MaxDiskMiB", reservation.SkipReason, StringComparison.Ordinal);
        Assert.Equal(2_000, _index.Restorable(Request("a", 4), 1.0).Tokens);
    }

    [Fact]
    public void AbandonSave_MayHaveWritten_CountsEstimateAgainstBudgetAndOffersNothing()
    {
        Save(State("a", 3, 2_000));
        var reservation = _index.ReserveSave(State("b", 3, 3_000), Options(), ++_now);
        Assert.Equal(600_000, reservation.EstimatedBytes);

        _index.AbandonSave(reservation.File!, reservation.EstimatedBytes, mayHaveWritten: true, failed: true);

        var statistics = _index.Statistics(Options());
        Assert.Equal(1_000_000, statistics.BytesOnDisk);
        Assert.Equal(1, statistics.SaveFailures);
        Assert.Equal(0, _index.Restorable(Request("b", 4), 1.0).Tokens);
    }

    [Fact]
    public void ReserveSave_AfterFailedSave_ReusesTheEmptyFileBeforeTakingANewName()
    {
        var failed = _index.ReserveSave(State("a", 3, 2_000), Options(), ++_now).File!;
        _index.AbandonSave(failed, 0, mayHaveWritten: true, failed: true);

        var next = Save(State("b", 3, 2_000));

        Assert.Same(failed, next);
        Assert.Equal(1, _index.Statistics(Options()).FileNames);
    }

    [Fact]
    public void ReserveRestore_FileBeingWritten_IsNotOffered()
    {
        var reservation = _index.ReserveSave(State("a", 3, 2_000), Options(), ++_now);
        Assert.NotNull(reservation.File);

        Assert.Null(_index.ReserveRestore(Request("a", 4), 1.0, 1));
    }

    [Theory]
    [InlineData("a", 4, false, 1_000, 3_000.0)]
    [InlineData("a", 2, false, 1_000, 2_000.0)]
    [InlineData("a", 4, false, 3_001, null)]
    [InlineData("other", 4, false, 1, null)]
    [InlineData("other", 4, true, 1, 500.0)]
    [InlineData("other", 4, true, 501, null)]
    public void ReserveRestore_OffersStateTheRequestSharesEnoughOf(string conversation, int links, bool sharedPrefix, double minimum, double? expectedTokens)
    {
        Save(State("a", 3, 3_500, sharedPrefix));

        // Another conversation with the same system prompt shares only that (500 chars) with the saved state.
        var restore = _index.ReserveRestore(Request(conversation, links, sharedPrefix), 1.0, minimum);

        Assert.Equal(expectedTokens, restore?.ReusableTokens);
    }

    [Fact]
    public void AbandonRestore_Unusable_IsNeverOfferedAgain()
    {
        Save(State("a", 3, 2_000));
        var restore = _index.ReserveRestore(Request("a", 4), 1.0, 1)!;

        _index.AbandonRestore(restore.File, unusable: true, failed: true);

        Assert.Null(_index.ReserveRestore(Request("a", 4), 1.0, 1));
        Assert.Equal(1, _index.Statistics(Options()).RestoreFailures);
    }

    [Fact]
    public void MarkUnsupported_TrueOnceAndOffUntilInstanceRestarts()
    {
        Save(State("a", 3, 2_000));

        Assert.True(_index.MarkUnsupported("501: start it with --slot-save-path"));
        Assert.False(_index.MarkUnsupported("501: start it with --slot-save-path"));
        Assert.False(_index.IsSupported);
        Assert.Equal(0, _index.Restorable(Request("a", 4), 1.0).Tokens);
        Assert.Contains("--slot-save-path", _index.Statistics(Options()).UnsupportedReason, StringComparison.Ordinal);

        _instance.MarkUnhealthy("restarting");
        _instance.MarkHealthy();

        Assert.True(_index.IsSupported);
        Assert.Equal(2_000, _index.Restorable(Request("a", 4), 1.0).Tokens);
    }

    [Fact]
    public void CompleteRestore_MeasuresRestoreSpeed()
    {
        Save(State("a", 3, 2_000));
        var restore = _index.ReserveRestore(Request("a", 4), 1.0, 1)!;

        _index.CompleteRestore(restore.File, 2_000, 400_000, 20, ++_now);

        Assert.Equal(100_000, _index.Restorable(Request("a", 4), 1.0).TokensPerSecond);
        var statistics = _index.Statistics(Options());
        Assert.Equal(1, statistics.Restores);
        Assert.Equal(2_000, statistics.TokensRestored);
        Assert.Equal(400_000, statistics.BytesRead);
    }
}
