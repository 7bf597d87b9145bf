namespace LlamaGateway.Hosting;

/// <summary>
/// Keeps Kestrel's own logging at Warning and above whatever the configuration says. At Debug Kestrel logs a
/// malformed request's bad line, and with its logging on at Information it copies that line (a header line with a key
/// in it, say) into the error's message; neither may ever reach a log. Applied after every configuration of the log
/// filters, so a reload cannot undo it: rules that could select a level for a Kestrel category more specifically than
/// the pin are dropped, and each provider named in the rules gets the pin too (a provider's own rule beats a general one).
/// </summary>
internal static class KestrelLogPin
{
    public const string Category = "Microsoft.AspNetCore.Server.Kestrel";

    public const LogLevel MinimumLevel = LogLevel.Warning;

    public static void Apply(LoggerFilterOptions options)
    {
        var providers = options.Rules.Select(rule => rule.ProviderName).Append(null).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        for (var i = options.Rules.Count - 1; i >= 0; i--)
        {
            if (CouldOutrankPin(options.Rules[i].CategoryName))
            {
                options.Rules.RemoveAt(i);
            }
        }

        foreach (var provider in providers)
        {
            options.Rules.Add(new LoggerFilterRule(provider, Category, MinimumLevel, filter: null));
        }
    }

    /// <summary>
    /// Whether a rule's category (with at most one '*', as the logging filters allow) can match a Kestrel category and
    /// is at least as long as the pin's, which would make it the more specific rule there.
    /// </summary>
    private static bool CouldOutrankPin(string? category)
    {
        if (category is null || category.Length < Category.Length)
        {
            return false;
        }

        var wildcard = category.IndexOf('*', StringComparison.Ordinal);
        var prefix = wildcard < 0 ? category : category[..wildcard];
        return prefix.StartsWith(Category, StringComparison.OrdinalIgnoreCase) || Category.StartsWith(prefix, StringComparison.OrdinalIgnoreCase);
    }
}
