using LlamaGateway.Normalization;
using LlamaGateway.SlotPersistence;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Hosting;

/// <summary>Start-up (and reload) validation whose messages name the configuration key to fix.</summary>
/// <param name="configuration">The configuration the options were bound from, to find upstream entries the binder dropped.</param>
internal sealed class GatewayOptionsValidator(IConfiguration? configuration = null) : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        FindDroppedUpstreams(errors, options);
        if (options.Upstreams.Count == 0 && errors.Count == 0)
        {
            errors.Add("Gateway:Upstreams is empty: configure at least one upstream, e.g. --Gateway:Upstreams:0:BaseUrl=http://127.0.0.1:8080");
        }

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.Upstreams.Count; i++)
        {
            var upstream = options.Upstreams[i];
            var key = $"Gateway:Upstreams:{i}";
            if (string.IsNullOrWhiteSpace(upstream.Name))
            {
                errors.Add($"{key}:Name is required (a short unique name such as \"gpu-1\")");
            }
            else if (!names.Add(upstream.Name))
            {
                errors.Add($"{key}:Name \"{upstream.Name}\" is used by another upstream; names must be unique");
            }

            if (!Uri.TryCreate(upstream.BaseUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                errors.Add($"{key}:BaseUrl must be an absolute http:// or https:// URL, got \"{upstream.BaseUrl}\"");
            }

            if (upstream.Slots is < 1 or > 1024)
            {
                errors.Add($"{key}:Slots must be between 1 and 1024 (llama-server -np), got {upstream.Slots}; leave it unset to discover it from /props");
            }

            if (!string.Equals(upstream.Dialect, "openai", StringComparison.OrdinalIgnoreCase) && !string.Equals(upstream.Dialect, "anthropic", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"{key}:Dialect must be \"openai\" or \"anthropic\", got \"{upstream.Dialect}\"");
            }

            if (upstream.MaxOutputTokens is < 1)
            {
                errors.Add($"{key}:MaxOutputTokens must be positive, got {upstream.MaxOutputTokens}");
            }

            ValidateSlotSave(errors, key, upstream);
        }

        SlotFileNames.FindCollisions(errors, options.Upstreams);

        if (!Enum.TryParse<BillingHeaderMode>(options.Normalization.BillingHeader, ignoreCase: true, out _))
        {
            errors.Add($"Gateway:Normalization:BillingHeader must be Replace, Strip or Keep, got \"{options.Normalization.BillingHeader}\"");
        }

        if (options.Normalization.BillingHeaderValue.Contains('\n', StringComparison.Ordinal))
        {
            errors.Add("Gateway:Normalization:BillingHeaderValue must be a single line");
        }

        if (options.Normalization.FoldSystemMessages is not ("Auto" or "Always" or "Never"))
        {
            errors.Add($"Gateway:Normalization:FoldSystemMessages must be Auto, Always or Never, got \"{options.Normalization.FoldSystemMessages}\"");
        }

        if (options.Normalization.ReuseCacheMegabytes is < 0 or > 16384)
        {
            errors.Add($"Gateway:Normalization:ReuseCacheMegabytes must be between 0 (off) and 16384, got {options.Normalization.ReuseCacheMegabytes}");
        }

        ValidateIsolation(errors, options);

        if (options.MaxRequestBodyBytes < 1024)
        {
            errors.Add($"Gateway:MaxRequestBodyBytes must be at least 1024, got {options.MaxRequestBodyBytes}");
        }

        CheckPositive(errors, "Gateway:Timeouts:ConnectSeconds", options.Timeouts.ConnectSeconds);
        CheckPositive(errors, "Gateway:Timeouts:FirstByteSeconds", options.Timeouts.FirstByteSeconds);
        CheckPositive(errors, "Gateway:Timeouts:StreamIdleSeconds", options.Timeouts.StreamIdleSeconds);

        var health = options.Health;
        CheckRange(errors, "Gateway:Health:IntervalSeconds", health.IntervalSeconds, 0.1, 3600);
        CheckRange(errors, "Gateway:Health:UnhealthyIntervalSeconds", health.UnhealthyIntervalSeconds, 0.1, 3600);
        CheckRange(errors, "Gateway:Health:ProbeTimeoutSeconds", health.ProbeTimeoutSeconds, 0.05, 600);
        CheckRange(errors, "Gateway:Health:BreakSeconds", health.BreakSeconds, 0.5, 3600);
        if (health.ProbeRetries is < 0 or > 10)
        {
            errors.Add($"Gateway:Health:ProbeRetries must be between 0 and 10, got {health.ProbeRetries}");
        }

        if (health.FailureThreshold is < 1 or > 1000)
        {
            errors.Add($"Gateway:Health:FailureThreshold must be between 1 and 1000 failed requests, got {health.FailureThreshold}");
        }

        if (!(options.Shutdown.DrainSeconds >= 0) || options.Shutdown.DrainSeconds > 3600)
        {
            errors.Add($"Gateway:Shutdown:DrainSeconds must be between 0 and 3600 seconds, got {options.Shutdown.DrainSeconds}");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>
    /// The binder silently skips a list entry it cannot convert (e.g. <c>"Slots": "many"</c>), which would drop that
    /// upstream from the pool without a word; binding each entry on its own finds it and the binder's message names
    /// the key.
    /// </summary>
    private void FindDroppedUpstreams(List<string> errors, GatewayOptions options)
    {
        if (configuration is null)
        {
            return;
        }

        var entries = configuration.GetSection($"{GatewayOptions.SectionName}:{nameof(GatewayOptions.Upstreams)}").GetChildren().ToList();
        if (entries.Count == options.Upstreams.Count)
        {
            return;
        }

        foreach (var entry in entries)
        {
            try
            {
                entry.Get<UpstreamOptions>();
            }
            catch (InvalidOperationException ex)
            {
                errors.Add(ex.Message);
            }
        }
    }

    private static void ValidateSlotSave(List<string> errors, string upstreamKey, UpstreamOptions upstream)
    {
        var key = upstreamKey + ":SlotSave";
        var slotSave = upstream.SlotSave;
        if (slotSave.MaxDiskMiB is < 1 or > 16L * 1024 * 1024)
        {
            errors.Add($"{key}:MaxDiskMiB must be between 1 and 16777216 (16 TiB), got {slotSave.MaxDiskMiB}; it bounds the disk the gateway's slot files use in llama-server's --slot-save-path directory");
        }

        if (slotSave.MinTokens is < 1 or > 10_000_000)
        {
            errors.Add($"{key}:MinTokens must be between 1 and 10000000, got {slotSave.MinTokens}; states smaller than this are not saved");
        }

        if (!(slotSave.TimeoutSeconds >= 0.1 && slotSave.TimeoutSeconds <= 3600))
        {
            errors.Add($"{key}:TimeoutSeconds must be between 0.1 and 3600 seconds, got {slotSave.TimeoutSeconds}");
        }

        if (slotSave.Enabled && !string.Equals(upstream.Dialect, "openai", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{key}:Enabled needs {upstreamKey}:Dialect \"openai\": only there are requests pinned to a slot (id_slot) that can be saved and restored");
        }
    }

    private static void ValidateIsolation(List<string> errors, GatewayOptions options)
    {
        var mode = Routing.CacheIsolation.Parse(options.Isolation);
        if (mode is null)
        {
            errors.Add($"Gateway:Isolation must be Shared or PerUser, got \"{options.Isolation}\"");
            return;
        }

        if (mode != Routing.IsolationMode.PerUser)
        {
            return;
        }

        // llama-server's own /v1/messages drops id_slot and picks the slot by prompt similarity across all users.
        for (var i = 0; i < options.Upstreams.Count; i++)
        {
            if (!string.Equals(options.Upstreams[i].Dialect, "openai", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"Gateway:Isolation PerUser needs Gateway:Upstreams:{i}:Dialect \"openai\": on the anthropic dialect llama-server chooses the slot itself, by prompt similarity across users, so the gateway cannot keep one user's request off another's cache");
            }
        }
    }

    private static void CheckRange(List<string> errors, string key, double value, double min, double max)
    {
        if (!(value >= min && value <= max))
        {
            errors.Add($"{key} must be between {min} and {max} seconds, got {value}");
        }
    }

    private static void CheckPositive(List<string> errors, string key, double value)
    {
        if (!(value > 0) || double.IsInfinity(value))
        {
            errors.Add($"{key} must be a positive number of seconds, got {value}");
        }
    }
}
