using LlamaGateway.Hosting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Auth;

internal static class AuthServiceCollectionExtensions
{
    /// <summary>
    /// Users and their keys (validated at start-up; a reload cannot open a keyed gateway), the per-user concurrency
    /// caps and the wrong-key limit.
    /// </summary>
    public static IServiceCollection AddGatewayAuth(this IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<GatewayOptions>>(new AuthOptionsValidator());
        services.AddSingleton<IReloadGuard<GatewayOptions>>(new KeyedAccessReloadGuard());
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<UserConcurrencyLimiter>();
        services.AddSingleton<FailedKeyAttempts>();
        services.AddRateLimiter(static _ => { });
        services.AddOptions<RateLimiterOptions>().Configure<UserConcurrencyLimiter>(static (options, limiter) =>
        {
            options.GlobalLimiter = limiter;
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.OnRejected = UserLimitRejection.WriteAsync;
        });
        return services;
    }
}
