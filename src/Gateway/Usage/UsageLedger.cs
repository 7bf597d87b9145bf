using System.Collections.Concurrent;
using LlamaGateway.Pipeline;
using LlamaGateway.Routing;

namespace LlamaGateway.Usage;

/// <summary>Stage 6: accounts each finished request to its user and to the gateway's totals.</summary>
internal sealed class UsageLedger
{
    private readonly ConcurrentDictionary<string, UsageCounters> _users = new(StringComparer.Ordinal);
    private readonly RecentErrors? _recentErrors;

    public UsageLedger()
    {
    }

    /// <param name="recentErrors">Also told about every finished request, to list the failures on the dashboard.</param>
    public UsageLedger(RecentErrors recentErrors)
    {
        _recentErrors = recentErrors;
    }

    public const string AnonymousUser = "(anonymous)";

    public UsageCounters Totals { get; } = new();

    public IReadOnlyDictionary<string, UsageCounters> Users => _users;

    public void Record(GatewayRequestContext request)
    {
        var failed = request.FailureKind is not null;
        var side = request.Kind == RequestKind.Side;
        Totals.Add(request.Usage, failed, side);
        _users.GetOrAdd(request.User ?? AnonymousUser, static _ => new UsageCounters()).Add(request.Usage, failed, side);
        _recentErrors?.Record(request);
    }
}
