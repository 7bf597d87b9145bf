using System.Threading.RateLimiting;
using LlamaGateway.Hosting;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Auth;

/// <summary>
/// The per-user caps on concurrent model requests (<c>Gateway:Limits</c>): one <see cref="ConcurrencyLimiter"/> per
/// user and policy with a bounded queue, plus the queue-wait bound that <see cref="ConcurrencyLimiter"/> lacks. Used as
/// ASP.NET Core's global rate limiter; the policy comes from the matched endpoint's <see cref="GatewayRoute.Limit"/>
/// (generation, or count_tokens with a cap of its own). Requests without a user (open gateway) are not limited.
/// </summary>
internal sealed class UserConcurrencyLimiter : PartitionedRateLimiter<HttpContext>
{
    private readonly PartitionedRateLimiter<(UserLimitPolicy Policy, string User)> _users;
    private readonly IOptionsMonitor<GatewayOptions> _options;
    private readonly TimeProvider _time;

    public UserConcurrencyLimiter(IOptionsMonitor<GatewayOptions> options, TimeProvider time)
    {
        _options = options;
        _time = time;

        // The limits are part of the partition key, so a configuration reload takes effect with fresh limiters
        // (requests holding the old ones finish under the old limits).
        _users = PartitionedRateLimiter.Create<(UserLimitPolicy Policy, string User), string>(key =>
        {
            var (permits, queue, _) = Cap(key.Policy);
            return RateLimitPartition.GetConcurrencyLimiter(PartitionKey(key.Policy, key.User, permits, queue), _ => new ConcurrencyLimiterOptions
            {
                PermitLimit = permits,
                QueueLimit = queue,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            });
        });
    }

    /// <summary>How long a client refused by the generation cap should wait before trying again.</summary>
    public TimeSpan RetryAfter => RetryAfterFor(UserLimitPolicy.Generation);

    /// <summary>How long a client refused by <paramref name="policy"/>'s cap should wait before trying again.</summary>
    public TimeSpan RetryAfterFor(UserLimitPolicy policy) => TimeSpan.FromSeconds(Math.Clamp(Cap(policy).Seconds / 4, 1, 30));

    /// <summary>The user's generating requests running and waiting right now, or null when the user is not limited.</summary>
    public (long Active, long Queued)? UserStatistics(string user) => UserStatistics(user, UserLimitPolicy.Generation);

    /// <summary>The user's requests under <paramref name="policy"/> running and waiting right now, or null when not limited.</summary>
    public (long Active, long Queued)? UserStatistics(string user, UserLimitPolicy policy)
    {
        var permits = Cap(policy).Permits;
        if (permits <= 0 || _users.GetStatistics((policy, user)) is not { } statistics)
        {
            return null;
        }

        return (permits - statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount);
    }

    public override RateLimiterStatistics? GetStatistics(HttpContext resource) => LimitedUser(resource) is { } key ? _users.GetStatistics(key) : null;

    protected override RateLimitLease AttemptAcquireCore(HttpContext resource, int permitCount) =>
        LimitedUser(resource) is { } key ? _users.AttemptAcquire(key, permitCount) : Unlimited.Instance;

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(HttpContext resource, int permitCount, CancellationToken cancellationToken)
    {
        if (LimitedUser(resource) is not { } key)
        {
            return Unlimited.Instance;
        }

        var (_, _, seconds) = Cap(key.Policy);
        var section = key.Policy == UserLimitPolicy.CountTokens ? "Gateway:Limits:CountTokens" : "Gateway:Limits";
        var what = key.Policy == UserLimitPolicy.CountTokens ? "count_tokens requests" : "requests";
        var wait = TimeSpan.FromSeconds(seconds);
        var started = _time.GetTimestamp();
        using var timeout = new CancellationTokenSource(wait, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            var lease = await _users.AcquireAsync(key, permitCount, linked.Token);
            if (!lease.IsAcquired)
            {
                return new Rejected(RetryAfterFor(key.Policy), $"{key.User} already has the most {what} running and waiting that {section} allows");
            }

            // Reached only when the user's places were all taken: the request log reports the wait.
            resource.Features.Set(new UserCapWait(_time.GetElapsedTime(started)));
            return lease;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new Rejected(RetryAfterFor(key.Policy), $"{key.User}'s request waited {wait.TotalSeconds:0.#} s ({section}:QueueSeconds) behind that user's other {what}");
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

    private static string PartitionKey(UserLimitPolicy policy, string user, int permits, int queue) =>
        $"{policy}\n{user}\n{permits}\n{queue}";

    private (int Permits, int Queue, double Seconds) Cap(UserLimitPolicy policy)
    {
        var limits = _options.CurrentValue.Limits;
        return policy == UserLimitPolicy.CountTokens
            ? (limits.CountTokens.MaxConcurrentRequestsPerUser, limits.CountTokens.QueueLimit, limits.CountTokens.QueueSeconds)
            : (limits.MaxConcurrentRequestsPerUser, limits.QueueLimit, limits.QueueSeconds);
    }

    /// <summary>The (policy, user) the request counts against, or null when it is not limited.</summary>
    private (UserLimitPolicy Policy, string User)? LimitedUser(HttpContext http)
    {
        var policy = GatewayRoute.Of(http).Limit;
        if (policy == UserLimitPolicy.None || Cap(policy).Permits <= 0 || http.Features.Get<AuthenticatedUser>() is not { } user)
        {
            return null;
        }

        return (policy, user.Name);
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
