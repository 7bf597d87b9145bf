using LlamaGateway.Routing;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Routing;

public sealed class PrefillPreemptionTests
{
    private readonly ManualTimeProvider _time = new();

    [Fact]
    public async Task TryHoldUp_DuringAnAttempt_CancelsItAndTheNextAttemptWaitsForTheLastRelease()
    {
        var preemption = new PrefillPreemption(_time, budgetSeconds: 10);
        var attempt = await preemption.NextAttemptAsync(CancellationToken.None);

        Assert.True(preemption.TryHoldUp());
        Assert.True(preemption.TryHoldUp());

        Assert.True(attempt.IsCancellationRequested);
        Assert.False(preemption.TryCommit());
        Assert.True(preemption.EndAttempt());
        var next = preemption.NextAttemptAsync(CancellationToken.None).AsTask();
        preemption.Release();
        Assert.False(next.IsCompleted);
        preemption.Release();
        var resent = await next.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(resent.IsCancellationRequested);
        Assert.True(preemption.TryCommit());
        Assert.False(preemption.EndAttempt());
        Assert.Equal(1, preemption.Pauses);
    }

    [Fact]
    public async Task TryHoldUp_AfterTheFirstOutput_ReturnsFalseAndLeavesTheAttemptRunning()
    {
        var preemption = new PrefillPreemption(_time, budgetSeconds: 10);
        var attempt = await preemption.NextAttemptAsync(CancellationToken.None);
        Assert.True(preemption.TryCommit());

        Assert.False(preemption.TryHoldUp());

        Assert.False(attempt.IsCancellationRequested);
        Assert.Equal(0, preemption.Pauses);
    }

    [Fact]
    public async Task TryHoldUp_PauseBudgetSpent_ReturnsFalse()
    {
        var preemption = new PrefillPreemption(_time, budgetSeconds: 3);
        await preemption.NextAttemptAsync(CancellationToken.None);
        Assert.True(preemption.TryHoldUp());
        _time.Advance(TimeSpan.FromSeconds(2));

        // Joining a pause that has time left extends it.
        Assert.True(preemption.TryHoldUp());
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(preemption.TryHoldUp());
        preemption.Release();
        preemption.Release();
        preemption.EndAttempt();
        var attempt = await preemption.NextAttemptAsync(CancellationToken.None);

        Assert.False(preemption.TryHoldUp());
        Assert.False(attempt.IsCancellationRequested);
        Assert.Equal(TimeSpan.FromSeconds(3), preemption.PausedTime);
    }

    [Fact]
    public async Task NextAttemptAsync_CancelledWhilePaused_Throws()
    {
        var preemption = new PrefillPreemption(_time, budgetSeconds: 10);
        await preemption.NextAttemptAsync(CancellationToken.None);
        preemption.TryHoldUp();
        preemption.EndAttempt();
        using var clientGone = new CancellationTokenSource();

        var next = preemption.NextAttemptAsync(clientGone.Token).AsTask();
        await clientGone.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task NextAttemptAsync_OuterTokenCancelledDuringTheAttempt_LeavesTheAttemptTokenUncancelled()
    {
        // The relay reads a cancelled attempt token as a pause; a client that left or a drain that ended is not one.
        var preemption = new PrefillPreemption(_time, budgetSeconds: 10);
        using var clientGone = new CancellationTokenSource();
        var attempt = await preemption.NextAttemptAsync(clientGone.Token);

        await clientGone.CancelAsync();

        Assert.False(attempt.IsCancellationRequested);
        Assert.False(preemption.EndAttempt());
    }

    [Theory]
    [InlineData(10, 0.3, true)]
    [InlineData(1.5, 0.1, false)]
    [InlineData(5, 3, false)]
    public void Worthwhile_RemainingAgainstWork_PausesOnlyWhenClearlyLonger(double remaining, double work, bool expected) =>
        Assert.Equal(expected, PrefillPreemption.Worthwhile(remaining, work));
}
