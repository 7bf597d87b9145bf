using LlamaGateway.Hosting;

namespace LlamaGateway.Auth;

/// <summary>
/// A reload may add, change and remove keys, but never take away the last key in front of something: a gateway that
/// needs keys cannot be opened by an edit (or an edit that went wrong, such as a file replaced by one without its
/// users). Removing every user would open the model routes; removing the admin key while no users are configured
/// would open /status and /metrics. Removing the admin key while users remain opens nothing (the full dashboard and
/// /metrics become unreachable), so that is allowed. Opening on purpose takes a restart.
/// </summary>
internal sealed class KeyedAccessReloadGuard(Func<string, string?>? getEnvironmentVariable = null) : IReloadGuard<GatewayOptions>
{
    private const int NamesShown = 10;

    private readonly Func<string, string?> _getEnvironmentVariable = getEnvironmentVariable ?? Environment.GetEnvironmentVariable;

    public string? Refuse(GatewayOptions current, GatewayOptions next)
    {
        var before = ApiKeyStore.Build(current, _getEnvironmentVariable);
        var after = ApiKeyStore.Build(next, _getEnvironmentVariable);
        if (!before.IsOpen && after.IsOpen)
        {
            var also = after.HasAnyKey ? string.Empty : ", and /status and /metrics with it (no admin key either)";
            return $"the change leaves Gateway:Users empty: it would open the model API (/v1/messages, /v1/chat/completions, /completion, ...) " +
                $"to anyone who can reach the gateway, without a key{also}. {Names(before.UserNames)} keep their keys. " +
                "To run the gateway open on purpose, restart it with the new configuration (the start-up log then says it is open).";
        }

        if (before.HasAnyKey && !after.HasAnyKey)
        {
            return "the change removes the admin key while no users are configured: it would open /status (every user's rows) and /metrics " +
                "to anyone who can reach the gateway, without a key. The admin key stays in force. " +
                "To run them open on purpose, restart the gateway with the new configuration.";
        }

        return null;
    }

    private static string Names(IReadOnlyList<string> names)
    {
        var shown = string.Join(", ", names.Take(NamesShown));
        return names.Count > NamesShown
            ? $"The {names.Count} configured users ({shown} and {names.Count - NamesShown} more)"
            : $"The {names.Count} configured user(s) ({shown})";
    }
}
