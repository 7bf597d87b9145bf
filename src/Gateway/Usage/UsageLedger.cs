using System.Collections.Concurrent;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Usage;

/// <summary>Stage 6: accounts each finished request to its user and to the gateway's totals.</summary>
internal sealed class UsageLedger
{
    private readonly ConcurrentDictionary<string, UsageCounters> _users = new(StringComparer.Ordinal);

    public const string AnonymousUser = "(anonymous)";

    public UsageCounters Totals { get; } = new();

    public IReadOnlyDictionary<string, UsageCounters> Users => _users;

    public void Record(GatewayRequestContext request)
    {
        var failed = request.FailureKind is not null;
        Totals.Add(request.Usage, failed);
        _users.GetOrAdd(request.User ?? AnonymousUser, static _ => new UsageCounters()).Add(request.Usage, failed);
    }
}
