using LlamaGateway.Errors;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Support;
using LlamaGateway.Usage;

namespace LlamaGateway.Tests.Status;

public sealed class RecentErrorsTests
{
    private readonly ManualTimeProvider _time = new();

    private GatewayRequestContext Failed(ApiErrorKind kind, string message, string? user = "alice")
    {
        var request = new GatewayRequestContext(ApiRoute.Messages, _time.GetTimestamp()) { User = user };
        request.Fail(kind, message);
        return request;
    }

    [Fact]
    public void Record_MoreThanCapacity_KeepsNewestFirst()
    {
        var errors = new RecentErrors(_time);
        for (var i = 0; i < RecentErrors.Capacity + 5; i++)
        {
            using var request = Failed(ApiErrorKind.UpstreamTimeout, $"timeout {i}");
            errors.Record(request);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        var snapshot = errors.Snapshot();

        Assert.Equal(RecentErrors.Capacity, snapshot.Count);
        Assert.Equal($"timeout {RecentErrors.Capacity + 4}", snapshot[0].Message);
        Assert.Equal("timeout 5", snapshot[^1].Message);
        Assert.Equal(504, snapshot[0].Status);
        Assert.Equal("/v1/messages", snapshot[0].Route);
        Assert.Equal(RecentErrors.Capacity + 5, errors.Total);
    }

    [Fact]
    public void Record_ClientDisconnect_CountedNotListed()
    {
        var errors = new RecentErrors(_time);
        using var cancelled = Failed(ApiErrorKind.Internal, "client disconnected");
        using var succeeded = new GatewayRequestContext(ApiRoute.Messages, 0);

        errors.Record(cancelled);
        errors.Record(succeeded);

        Assert.Empty(errors.Snapshot());
        Assert.Equal(1, errors.Cancelled);
    }

    [Fact]
    public void Ledger_FailedRequest_ReachesRecentErrors()
    {
        var errors = new RecentErrors(_time);
        var ledger = new UsageLedger(errors);
        using var request = Failed(ApiErrorKind.Overloaded, "every slot stayed busy", user: null);

        ledger.Record(request);

        var error = Assert.Single(errors.Snapshot());
        Assert.Equal(UsageLedger.AnonymousUser, error.User);
        Assert.Equal(503, error.Status);
        Assert.Equal(1, ledger.Totals.Failures);
    }
}
