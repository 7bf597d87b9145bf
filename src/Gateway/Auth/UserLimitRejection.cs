using System.Threading.RateLimiting;
using LlamaGateway.Errors;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Usage;
using Microsoft.AspNetCore.RateLimiting;

namespace LlamaGateway.Auth;

/// <summary>Writes the 429 for a request over its user's cap, in the caller's dialect, with <c>retry-after</c>.</summary>
internal static class UserLimitRejection
{
    public static async ValueTask WriteAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        var services = http.RequestServices;
        var route = GatewayRoute.Of(http);
        var limiter = services.GetRequiredService<UserConcurrencyLimiter>();
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : limiter.RetryAfterFor(route.Limit);
        var reason = context.Lease.TryGetMetadata(MetadataName.ReasonPhrase, out var phrase) && phrase is not null
            ? phrase
            : "that user already has the most requests running and waiting that Gateway:Limits allows";
        var user = http.Features.Get<AuthenticatedUser>()?.Name ?? UsageLedger.AnonymousUser;

        GatewayLog.UserLimited(services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(UserLimitRejection).FullName!), http.Request.Method, route.Label, user, reason);
        services.GetRequiredService<RecentErrors>().Add(route.Label, StatusCodes.Status429TooManyRequests, nameof(ApiErrorKind.RateLimited), reason, user, upstream: null);
        await ApiErrorWriter.WriteAsync(http, route.DialectOf(http.Request), ApiErrorKind.RateLimited,
            $"Too many concurrent requests: {reason}. Retry after {Math.Ceiling(retryAfter.TotalSeconds):0} s.", retryAfter);
    }
}
