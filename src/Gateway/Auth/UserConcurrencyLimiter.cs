using System.Threading.RateLimiting;
using LlamaGateway.Hosting;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Auth;

/// <summary>
/// The per-user cap on concurrent model requests (<c>Gateway:Limits</c>): one <see cref="ConcurrencyLimiter"/> per
/// user with a bounded queue, plus the queue-wait bound that <see cref="ConcurrencyLimiter"/> lacks. Used as ASP.NET
/// Core's global rate limiter; requests without a user (open gateway), count_tokens and non-model routes are not limited.
/// </summary>
internal sealed class UserConcurrencyLimiter : PartitionedRateLimiter<HttpContext>
{
    private readonly PartitionedRateLimiter<string> _users;
    private readonly IOptionsMonitor<GatewayOptions> _options;
    private readonly TimeProvider _time;

    public UserConcurrencyLimiter(IOptionsMonitor<GatewayOptions> options, TimeProvider time)
    {
        _options = options;
        _time = time;

        // The limits are part of the partition key, so a configuration reload takes effect with fresh limiters
        // (requests holding the old ones finish under the old limits).
        _users = PartitionedRateLimiter.Create<string, string>(user =>
        {
            var limits = _options.CurrentValue.Limits;
            return RateLimitPartition.GetConcurrencyLimiter(PartitionKey(user, limits), _ => new ConcurrencyLimiterOptions
            {
                PermitLimit = limits.MaxConcurrentRequestsPerUser,
                QueueLimit = limits.QueueLimit,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            });
        });
    }

    /// <summary>How long a rejected client should wait before trying again.</summary>
    public TimeSpan RetryAfter => TimeSpan.FromSeconds(Math.Clamp(_options.CurrentValue.Limits.QueueSeconds / 4, 1, 30));

    /// <summary>The user's requests running and waiting right now, or null when the user is not limited.</summary>
    public (long Active, long Queued)? UserStatistics(string user)
    {
        var limits = _options.CurrentValue.Limits;
        if (limits.MaxConcurrentRequestsPerUser <= 0 || _users.GetStatistics(user) is not { } statistics)
        {
            return null;
        }

        return (limits.MaxConcurrentRequestsPerUser - statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount);
    }

    public override RateLimiterStatistics? GetStatistics(HttpContext resource) => LimitedUser(resource) is { } user ? _users.GetStatistics(user) : null;

    protected override RateLimitLease AttemptAcquireCore(HttpContext resource, int permitCount) =>
        LimitedUser(resource) is { } user ? _users.AttemptAcquire(user, permitCount) : Unlimited.Instance;

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(HttpContext resource, int permitCount, CancellationToken cancellationToken)
    {
        if (LimitedUser(resource) is not { } user)
        {
            return Unlimited.Instance;
        }

        var wait = TimeSpan.FromSeconds(_options.CurrentValue.Limits.QueueSeconds);
        using var timeout = new CancellationTokenSource(wait, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            var lease = await _users.AcquireAsync(user, permitCount, linked.Token);
            return lease.IsAcquired ? lease : new Rejected(RetryAfter, $"{user} already has the most requests running and waiting that Gateway:Limits allows");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new Rejected(RetryAfter, $"{user}'s request waited {wait.TotalSeconds:0.#} s (Gateway:Limits:QueueSeconds) behind that user's other requests");
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _users.Dispose();
        }

        base.Dispose(disposing);
    }

    protected override ValueTask DisposeAsyncCore() => _users.DisposeAsync();

    private static string PartitionKey(string user, LimitsOptions limits) =>
        $"{user}\n{limits.MaxConcurrentRequestsPerUser}\n{limits.QueueLimit}";

    private string? LimitedUser(HttpContext http)
    {
        if (_options.CurrentValue.Limits.MaxConcurrentRequestsPerUser <= 0 || !ApiPaths.IsCappedRoute(http.Request.Path))
        {
            return null;
        }

        return http.Features.Get<AuthenticatedUser>()?.Name;
    }

    private sealed class Unlimited : RateLimitLease
    {
        public static Unlimited Instance { get; } = new();

        public override bool IsAcquired => true;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }

    /// <summary>A refusal that says when to come back and why (read by the 429 writer).</summary>
    internal sealed class Rejected(TimeSpan retryAfter, string reason) : RateLimitLease
    {
        public override bool IsAcquired => false;

        public override IEnumerable<string> MetadataNames => [MetadataName.RetryAfter.Name, MetadataName.ReasonPhrase.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = metadataName == MetadataName.RetryAfter.Name ? retryAfter
                : metadataName == MetadataName.ReasonPhrase.Name ? reason
                : null;
            return metadata is not null;
        }
    }
}
