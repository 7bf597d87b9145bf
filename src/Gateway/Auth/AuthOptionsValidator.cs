using LlamaGateway.Hosting;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Auth;

/// <summary>
/// Start-up validation of <c>Gateway:Users</c>, the admin key and <c>Gateway:Limits</c>; every message names the
/// configuration key to fix. Messages never quote a key, only where it came from.
/// </summary>
internal sealed class AuthOptionsValidator(Func<string, string?>? getEnvironmentVariable = null) : IValidateOptions<GatewayOptions>
{
    private const int MaxNameLength = 64;

    private readonly Func<string, string?> _getEnvironmentVariable = getEnvironmentVariable ?? Environment.GetEnvironmentVariable;

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        var names = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var digests = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Users.Count; i++)
        {
            var user = options.Users[i];
            var key = $"Gateway:Users:{i}";
            var userName = user.Name?.Trim() ?? string.Empty;
            if (userName.Length == 0)
            {
                errors.Add($"{key}:Name is required (shown on the dashboard and in metrics)");
            }
            else if (userName.Length > MaxNameLength || userName.Any(char.IsControl) || userName.StartsWith('('))
            {
                errors.Add($"{key}:Name must be at most {MaxNameLength} printable characters and not start with '(', got \"{Printable(userName)}\"");
            }
            else if (names.TryGetValue(userName, out var other))
            {
                errors.Add($"{key}:Name \"{userName}\" is also used by Gateway:Users:{other}; names must be unique (ignoring case)");
            }
            else
            {
                names[userName] = i;
            }

            var digest = KeyMaterial.Resolve(key, nameof(UserOptions.ApiKey), user.ApiKey, nameof(UserOptions.ApiKeySha256), user.ApiKeySha256,
                nameof(UserOptions.ApiKeyEnv), user.ApiKeyEnv, _getEnvironmentVariable, out var error);
            if (error is not null)
            {
                errors.Add(error);
            }
            else if (digest is not null && !digests.TryAdd(Convert.ToHexString(digest), key))
            {
                errors.Add($"{key} has the same key as {digests[Convert.ToHexString(digest)]}; every user needs their own key");
            }
        }

        var admin = ApiKeyStore.AdminDigest(options, _getEnvironmentVariable, out var adminError);
        if (adminError is not null)
        {
            errors.Add(adminError);
        }
        else if (admin is not null && digests.TryGetValue(Convert.ToHexString(admin), out var sameAsAdmin))
        {
            errors.Add($"Gateway:AdminApiKey is the same key as {sameAsAdmin}; the admin key must differ from every user's key");
        }

        var limits = options.Limits;
        ValidateCap("Gateway:Limits", limits.MaxConcurrentRequestsPerUser, limits.QueueLimit, limits.QueueSeconds, errors);
        ValidateCap("Gateway:Limits:CountTokens", limits.CountTokens.MaxConcurrentRequestsPerUser, limits.CountTokens.QueueLimit, limits.CountTokens.QueueSeconds, errors);
        if (limits.MaxFailedKeyAttempts < 0)
        {
            errors.Add($"Gateway:Limits:MaxFailedKeyAttempts must be 0 (no limit) or more, got {limits.MaxFailedKeyAttempts}");
        }

        if (!(limits.FailedKeyWindowSeconds >= 1) || double.IsInfinity(limits.FailedKeyWindowSeconds) || limits.FailedKeyWindowSeconds > 86400)
        {
            errors.Add($"Gateway:Limits:FailedKeyWindowSeconds must be between 1 and 86400 seconds, got {limits.FailedKeyWindowSeconds}");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void ValidateCap(string section, int maxConcurrent, int queueLimit, double queueSeconds, List<string> errors)
    {
        if (maxConcurrent < 0)
        {
            errors.Add($"{section}:MaxConcurrentRequestsPerUser must be 0 (no cap) or more, got {maxConcurrent}");
        }

        if (queueLimit < 0)
        {
            errors.Add($"{section}:QueueLimit must be 0 or more, got {queueLimit}");
        }

        if (!(queueSeconds >= 0) || double.IsInfinity(queueSeconds) || queueSeconds > 3600)
        {
            errors.Add($"{section}:QueueSeconds must be between 0 and 3600 seconds, got {queueSeconds}");
        }
    }

    private static string Printable(string value) => new(value.Take(MaxNameLength).Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
