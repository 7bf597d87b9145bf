using System.Globalization;
using LlamaGateway.Auth;
using LlamaGateway.Conversations;
using LlamaGateway.Routing;
using LlamaGateway.Upstreams;
using LlamaGateway.Usage;

namespace LlamaGateway.Metrics;

/// <summary>Renders the gateway's state as Prometheus text: API traffic, per-user tokens, slots, upstream health.</summary>
internal sealed class MetricsExporter(
    RequestMetrics requests,
    UsageLedger ledger,
    SlotRouter router,
    UpstreamRegistry registry,
    ConversationTable conversations,
    ApiKeyStore keys,
    SlotPersistence.SavedStateCatalog savedStates,
    Normalization.RequestBodyReader bodyReader)
{
    private static readonly UsageCounters EmptyCounters = new();

    public string Render()
    {
        var writer = new PrometheusWriter();
        var keySet = keys.Current;

        writer.Family("gateway_requests_total", "counter", "API requests answered, by route, HTTP status and user (401s and 429s included).");
        foreach (var (route, status, user, count) in requests.Requests())
        {
            writer.Sample("gateway_requests_total", count, ("route", route), ("status", status.ToString(CultureInfo.InvariantCulture)), ("user", user));
        }

        writer.Family("gateway_request_duration_seconds", "histogram", "Time from receiving an API request to the end of its response, by route.");
        foreach (var (route, histogram) in requests.Durations())
        {
            var (cumulative, sum, count) = histogram.Read();
            for (var i = 0; i < cumulative.Length; i++)
            {
                var le = i < DurationHistogram.Bounds.Length ? PrometheusWriter.FormatValue(DurationHistogram.Bounds[i]) : "+Inf";
                writer.Sample("gateway_request_duration_seconds_bucket", cumulative[i], ("route", route), ("le", le));
            }

            writer.Sample("gateway_request_duration_seconds_sum", sum, ("route", route));
            writer.Sample("gateway_request_duration_seconds_count", count, ("route", route));
        }

        // Configured users appear from the start (at zero), so rate() has a baseline before their first request.
        var users = new SortedDictionary<string, UsageCounters>(StringComparer.Ordinal);
        foreach (var name in keySet.UserNames)
        {
            users[name] = EmptyCounters;
        }

        foreach (var (name, counters) in ledger.Users)
        {
            users[name] = counters;
        }

        UserCounter(writer, users, "gateway_prompt_tokens_total", "Prompt tokens of finished model requests (re-computed plus cached), by user.", c => c.PromptTokens);
        UserCounter(writer, users, "gateway_cached_tokens_total", "Prompt tokens served from a slot's KV cache instead of re-computed, by user.", c => c.CachedTokens);
        UserCounter(writer, users, "gateway_recomputed_tokens_total", "Prompt tokens the upstream had to compute (prefill), by user.", c => c.RecomputedTokens);
        UserCounter(writer, users, "gateway_output_tokens_total", "Generated tokens, by user.", c => c.OutputTokens);
        UserCounter(writer, users, "gateway_side_requests_total", "Requests routed to the side lane (quota probes, titles, short tool-less requests), by user.", c => c.SideRequests);

        var snapshot = router.Snapshot();
        writer.Family("gateway_slot_busy", "gauge", "1 while a request runs on the llama-server slot, else 0.");
        foreach (var instance in snapshot.Instances)
        {
            foreach (var slot in instance.Slots)
            {
                writer.Sample("gateway_slot_busy", slot.Busy ? 1 : 0, ("instance", instance.Name), ("slot", Index(slot.Index)));
            }
        }

        writer.Family("gateway_slot_cached_tokens", "gauge", "Tokens the gateway believes the slot's KV cache holds.");
        foreach (var instance in snapshot.Instances)
        {
            foreach (var slot in instance.Slots)
            {
                writer.Sample("gateway_slot_cached_tokens", slot.CachedTokens, ("instance", instance.Name), ("slot", Index(slot.Index)));
            }
        }

        InstanceSeries(writer, "gateway_upstream_healthy", "gauge", "1 while the upstream answers its health probe, else 0.", i => i.IsHealthy ? 1 : 0);
        InstanceSeries(writer, "gateway_prefill_pauses_total", "counter", "Times a long prefill was paused (cancelled upstream, then sent again) for a shorter prompt placed above it.", i => i.PrefillPauses);
        InstanceSeries(writer, "gateway_prefill_paused_seconds_total", "counter", "Time long prefills spent paused for shorter prompts.", i => Math.Round(i.PrefillPausedTime.TotalSeconds, 3));
        InstanceSeries(writer, "gateway_chunked_prefills_total", "counter", "Requests whose long prompt was prefilled in chunks.", i => i.ChunkedPrefills);
        InstanceSeries(writer, "gateway_prefill_chunks_total", "counter", "Chunks sent for chunked prefills.", i => i.PrefillChunks);
        InstanceSeries(writer, "gateway_prefill_chunk_yield_seconds_total", "counter", "Time chunked prefills gave way to shorter prompts between chunks.", i => Math.Round(i.ChunkYieldTime.TotalSeconds, 3));

        writer.Family("gateway_upstream_prefill_tokens_per_second", "gauge", "Measured prefill speed of the upstream (moving average; 0 until measured).");
        foreach (var instance in snapshot.Instances)
        {
            writer.Sample("gateway_upstream_prefill_tokens_per_second", Math.Round(instance.PrefillTokensPerSecond, 3), ("instance", instance.Name));
        }

        SlotSave(writer);

        writer.Family("gateway_queue_length", "gauge", "Requests waiting in the gateway for a slot.");
        writer.Sample("gateway_queue_length", snapshot.QueueLength);

        writer.Family("gateway_conversations", "gauge", "Conversations the gateway is tracking.");
        writer.Sample("gateway_conversations", conversations.Count);

        if (bodyReader.ReuseCache is { } reuse)
        {
            writer.Family("gateway_reuse_cache_hits_total", "counter", "Values of 1 KB and more copied from the normalizer's reuse cache instead of scanned.");
            writer.Sample("gateway_reuse_cache_hits_total", reuse.Hits);
            writer.Family("gateway_reuse_cache_misses_total", "counter", "Values of 1 KB and more copied unchanged that the reuse cache did not hold (scanned).");
            writer.Sample("gateway_reuse_cache_misses_total", reuse.Misses);
            writer.Family("gateway_reuse_cache_bytes", "gauge", "Memory the reuse cache holds (Gateway:Normalization:ReuseCacheMegabytes caps it).");
            writer.Sample("gateway_reuse_cache_bytes", reuse.SizeBytes);
        }

        writer.Family("gateway_open", "gauge", "1 when no users are configured and the API accepts requests without a key.");
        writer.Sample("gateway_open", keySet.IsOpen ? 1 : 0);

        return writer.ToString();
    }

    /// <summary>Slot save/restore counters of the instances that have it enabled (no families when none has).</summary>
    private void SlotSave(PrometheusWriter writer)
    {
        var enabled = new List<(string Instance, SlotPersistence.SlotSaveStatistics Statistics)>();
        foreach (var instance in registry.Instances)
        {
            if (savedStates.For(instance) is { } index)
            {
                enabled.Add((instance.Name, index.Statistics(instance.Options.SlotSave)));
            }
        }

        if (enabled.Count == 0)
        {
            return;
        }

        void Family(string name, string type, string help, Func<SlotPersistence.SlotSaveStatistics, long> value)
        {
            writer.Family(name, type, help);
            foreach (var (instance, statistics) in enabled)
            {
                writer.Sample(name, value(statistics), ("instance", instance));
            }
        }

        Family("gateway_slot_saves_total", "counter", "Slot states saved to llama-server's --slot-save-path before their slot went to another conversation.", s => s.Saves);
        Family("gateway_slot_save_failures_total", "counter", "Slot saves that failed (the request went on without).", s => s.SaveFailures);
        Family("gateway_slot_save_written_bytes_total", "counter", "Bytes llama-server wrote for slot saves.", s => s.BytesWritten);
        Family("gateway_slot_save_skipped_total", "counter", "Slot states not saved because they did not fit SlotSave:MaxDiskMiB.", s => s.Skipped);
        Family("gateway_slot_restores_total", "counter", "Saved slot states restored for a returning conversation.", s => s.Restores);
        Family("gateway_slot_restore_failures_total", "counter", "Slot restores that failed (the prompt was computed from scratch).", s => s.RestoreFailures);
        Family("gateway_slot_restored_tokens_total", "counter", "Tokens restored from slot files instead of re-computed.", s => s.TokensRestored);
        Family("gateway_slot_save_disk_bytes", "gauge", "Bytes the gateway's slot files take in the save directory, as far as known.", s => s.BytesOnDisk);
        Family("gateway_slot_save_supported", "gauge", "0 after the instance answered that it cannot save slots (no --slot-save-path), else 1.", s => s.Supported ? 1 : 0);
    }

    private static string Index(int slot) => slot.ToString(CultureInfo.InvariantCulture);

    private void InstanceSeries(PrometheusWriter writer, string name, string type, string help, Func<UpstreamInstance, double> value)
    {
        writer.Family(name, type, help);
        foreach (var instance in registry.Instances)
        {
            writer.Sample(name, value(instance), ("instance", instance.Name));
        }
    }

    private static void UserCounter(PrometheusWriter writer, SortedDictionary<string, UsageCounters> users, string name, string help, Func<UsageCounters, long> value)
    {
        writer.Family(name, "counter", help);
        foreach (var (user, counters) in users)
        {
            writer.Sample(name, value(counters), ("user", user));
        }
    }
}
