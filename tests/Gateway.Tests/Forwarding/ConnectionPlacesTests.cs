using LlamaGateway.Forwarding;

namespace LlamaGateway.Tests.Forwarding;

public sealed class ConnectionPlacesTests
{
    [Fact]
    public async Task EnterAsync_PoolFull_WaitersGetPlacesInArrivalOrder()
    {
        var places = new ConnectionPlaces();
        Assert.True(places.TryEnter(2));
        Assert.True(places.TryEnter(2));
        Assert.False(places.TryEnter(2));

        var first = places.EnterAsync(2, CancellationToken.None).AsTask();
        var second = places.EnterAsync(2, CancellationToken.None).AsTask();
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);

        places.Exit(2);
        await first.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(second.IsCompleted);
        Assert.Equal(2, places.InUse);

        places.Exit(2);
        await second.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(2, places.InUse);
    }

    [Fact]
    public async Task EnterAsync_Cancelled_LeavesTheQueueWithoutTakingAPlace()
    {
        var places = new ConnectionPlaces();
        Assert.True(places.TryEnter(1));
        using var cancel = new CancellationTokenSource();
        var cancelled = places.EnterAsync(1, cancel.Token).AsTask();
        var next = places.EnterAsync(1, CancellationToken.None).AsTask();

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        places.Exit(1);
        await next.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(1, places.InUse);
    }

    [Fact]
    public async Task Exit_LimitGrew_AdmitsAsManyWaitersAsTheNewLimitAllows()
    {
        var places = new ConnectionPlaces();
        Assert.True(places.TryEnter(1));
        var waiters = Enumerable.Range(0, 3).Select(_ => places.EnterAsync(1, CancellationToken.None).AsTask()).ToList();

        // The instance turned out to have 4 slots: one exit lets three waiters in.
        places.Exit(4);
        await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(3, places.InUse);
        Assert.False(places.TryEnter(3));
    }
}
