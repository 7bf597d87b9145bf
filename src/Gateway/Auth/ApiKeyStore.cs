using LlamaGateway.Hosting;
using LlamaGateway.Reliability;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Auth;

/// <summary>
/// Holds the current <see cref="KeySet"/>, rebuilt when the configuration changes. Validation
/// (<see cref="AuthOptionsValidator"/>) has already rejected unusable entries; any left are skipped, never half-used.
/// A reload that would leave no key in front of something has been refused before it gets here
/// (<see cref="KeyedAccessReloadGuard"/>); one that changes the keys is logged.
/// </summary>
internal sealed class ApiKeyStore : IDisposable
{
    private readonly IDisposable? _subscription;
    private volatile KeySet _current;

    public ApiKeyStore(IOptionsMonitor<GatewayOptions> options, ILogger<ApiKeyStore> logger)
    {
        _current = Build(options.CurrentValue, Environment.GetEnvironmentVariable);
        _subscription = options.OnChange(next =>
        {
            var keys = Build(next, Environment.GetEnvironmentVariable);
            var previous = _current;
            _current = keys;
            if (!keys.HasSameKeys(previous))
            {
                var names = keys.UserNames.Count switch
                {
                    0 => " (open: no key needed)",
                    <= 20 => " (" + string.Join(", ", keys.UserNames) + ")",
                    _ => " (" + string.Join(", ", keys.UserNames.Take(20)) + $" and {keys.UserNames.Count - 20} more)",
                };
                ReliabilityLog.KeysReloaded(logger, keys.UserNames.Count, names, keys.HasAdminKey ? "set" : "not set");
            }
        });
    }

    public KeySet Current => _current;

    public void Dispose() => _subscription?.Dispose();

    public static KeySet Build(GatewayOptions options, Func<string, string?> getEnvironmentVariable)
    {
        var users = new List<(string, byte[])>(options.Users.Count);
        for (var i = 0; i < options.Users.Count; i++)
        {
            var user = options.Users[i];
            var digest = KeyMaterial.Resolve($"Gateway:Users:{i}", nameof(UserOptions.ApiKey), user.ApiKey, nameof(UserOptions.ApiKeySha256), user.ApiKeySha256,
                nameof(UserOptions.ApiKeyEnv), user.ApiKeyEnv, getEnvironmentVariable, out _);
            if (digest is not null && !string.IsNullOrWhiteSpace(user.Name))
            {
                users.Add((user.Name.Trim(), digest));
            }
        }

        var admin = AdminDigest(options, getEnvironmentVariable, out _);
        return new KeySet(users, admin);
    }

    /// <summary>The admin key's digest, or null when none is configured (or it is unusable: see the error).</summary>
    public static byte[]? AdminDigest(GatewayOptions options, Func<string, string?> getEnvironmentVariable, out string? error)
    {
        error = null;
        if (string.IsNullOrEmpty(options.AdminApiKey) && string.IsNullOrEmpty(options.AdminApiKeySha256) && string.IsNullOrEmpty(options.AdminApiKeyEnv))
        {
            return null;
        }

        return KeyMaterial.Resolve("Gateway", nameof(GatewayOptions.AdminApiKey), options.AdminApiKey, nameof(GatewayOptions.AdminApiKeySha256), options.AdminApiKeySha256,
            nameof(GatewayOptions.AdminApiKeyEnv), options.AdminApiKeyEnv, getEnvironmentVariable, out error);
    }
}
