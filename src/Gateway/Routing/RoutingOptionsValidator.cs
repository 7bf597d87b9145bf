using Microsoft.Extensions.Options;

namespace LlamaGateway.Routing;

internal sealed class RoutingOptionsValidator : IValidateOptions<RoutingOptions>
{
    public ValidateOptionsResult Validate(string? name, RoutingOptions options)
    {
        var errors = new List<string>();
        if (options.SideLaneSlots is < 0)
        {
            errors.Add($"Gateway:Routing:SideLaneSlots must be 0 or more, got {options.SideLaneSlots}");
        }

        if (options.MaxSlotsPerUser is < 1)
        {
            errors.Add($"Gateway:Routing:MaxSlotsPerUser must be at least 1, got {options.MaxSlotsPerUser}");
        }

        if (!(options.LongPrefillSeconds > 0))
        {
            errors.Add($"Gateway:Routing:LongPrefillSeconds must be positive, got {options.LongPrefillSeconds}");
        }

        if (options.MaxLongPrefillsPerInstance is < 1)
        {
            errors.Add($"Gateway:Routing:MaxLongPrefillsPerInstance must be at least 1, got {options.MaxLongPrefillsPerInstance}");
        }

        if (!(options.PrefillChunkSeconds >= 0 && options.PrefillChunkSeconds <= 60))
        {
            errors.Add($"Gateway:Routing:PrefillChunkSeconds must be between 0 (off) and 60, got {options.PrefillChunkSeconds}");
        }

        if (!(options.MaxQueueSeconds > 0))
        {
            errors.Add($"Gateway:Routing:MaxQueueSeconds must be positive, got {options.MaxQueueSeconds}");
        }

        if (options.MaxConversations < 16)
        {
            errors.Add($"Gateway:Routing:MaxConversations must be at least 16, got {options.MaxConversations}");
        }

        if (!(options.ConversationIdleMinutes > 0))
        {
            errors.Add($"Gateway:Routing:ConversationIdleMinutes must be positive, got {options.ConversationIdleMinutes}");
        }

        if (!(options.DefaultPrefillTokensPerSecond > 0))
        {
            errors.Add($"Gateway:Routing:DefaultPrefillTokensPerSecond must be positive, got {options.DefaultPrefillTokensPerSecond}");
        }

        if (!(options.CacheValueHalfLifeMinutes > 0))
        {
            errors.Add($"Gateway:Routing:CacheValueHalfLifeMinutes must be positive, got {options.CacheValueHalfLifeMinutes}");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
