using LlamaGateway.Auth;
using LlamaGateway.Conversations;
using LlamaGateway.Hosting;
using LlamaGateway.Routing;
using LlamaGateway.Upstreams;
using LlamaGateway.Usage;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Status;

/// <summary>
/// Assembles the status document from the live parts (router, conversations, ledger, upstreams, errors, history)
/// and trims it to what the viewer may see: a user key shows that user's rows plus aggregates.
/// </summary>
internal sealed class StatusSnapshotBuilder(
    SlotRouter router,
    ConversationTable conversations,
    UsageLedger ledger,
    UpstreamRegistry registry,
    RecentErrors errors,
    UsageTimeSeries series,
    ApiKeyStore keys,
    UserConcurrencyLimiter limiter,
    SlotPersistence.SavedStateCatalog savedStates,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider time)
{
    /// <summary>Conversations listed at most, most recently active first; the total is in the totals.</summary>
    public const int MaxConversations = 100;

    /// <summary>Written in the document, and bumped on any change that is not purely additive.</summary>
    public const int SchemaVersion = 1;

    private const string OtherUser = "(other)";

    private static readonly UsageCounters EmptyCounters = new();

    public StatusDocument Build(DashboardViewer viewer)
    {
        var now = time.GetUtcNow();
        var nowTimestamp = time.GetTimestamp();
        var keySet = keys.Current;
        var routing = router.Snapshot();
        var tracked = conversations.Snapshot();

        var instances = new List<StatusInstance>(routing.Instances.Count);
        int slots = 0, busy = 0, sideSlots = 0, sideBusy = 0;
        long sideServed = 0;
        foreach (var instance in registry.Instances)
        {
            var state = FindRouting(routing, instance.Name);
            var slotRows = new List<StatusSlot>(state?.Slots.Count ?? 0);
            var instanceBusy = 0;
            foreach (var slot in state?.Slots ?? [])
            {
                var visible = slot.User is null || viewer.Sees(slot.User);
                slotRows.Add(new StatusSlot(slot.Index, slot.SideLane, slot.Busy,
                    visible ? slot.User : OtherUser, visible ? slot.ConversationId : null, slot.CachedTokens,
                    Round(slot.IdleSeconds), slot.IdleSeconds is { } idle ? now.AddSeconds(-idle) : null, slot.Requests));
                instanceBusy += slot.Busy ? 1 : 0;
                if (slot.SideLane)
                {
                    sideSlots++;
                    sideBusy += slot.Busy ? 1 : 0;
                    sideServed += slot.Requests;
                }
            }

            slots += slotRows.Count;
            busy += instanceBusy;
            instances.Add(new StatusInstance(instance.Name, instance.DestinationPrefix, instance.Dialect == Pipeline.ApiDialect.OpenAi ? "openai" : "anthropic",
                instance.IsHealthy, viewer.Full ? instance.LastError : instance.PublicError, instance.ModelName, instance.SlotCount, instanceBusy, state?.Queued ?? 0,
                Math.Round(state?.PrefillTokensPerSecond ?? 0, 1), Math.Round(state?.AverageHoldSeconds ?? 0, 2),
                instance.PrefillPauses, Math.Round(instance.PrefillPausedTime.TotalSeconds, 1),
                instance.ChunkedPrefills, instance.PrefillChunks, Math.Round(instance.ChunkYieldTime.TotalSeconds, 1), SlotSave(instance), slotRows));
        }

        var conversationRows = tracked
            .Where(c => viewer.Sees(c.User))
            .OrderByDescending(c => c.LastSeen)
            .Take(MaxConversations)
            .Select(c => new StatusConversation(c.Id, c.User, c.Instance, c.Slot >= 0 ? c.Slot : null, c.Turns, c.PromptTokens, c.CachedTokens,
                c.RecomputedTokens, Ratio(c.CachedTokens, c.PromptTokens), Math.Round(c.SecondsSaved, 2), c.Repins,
                Math.Round(time.GetElapsedTime(c.LastSeen, nowTimestamp).TotalSeconds, 1)))
            .ToList();

        var totals = ledger.Totals;
        var secondsSaved = tracked.Sum(c => c.SecondsSaved);
        var document = new StatusDocument(
            SchemaVersion,
            now,
            keySet.IsOpen,
            router.Isolation.ToString(),
            new StatusViewer(viewer.Full, viewer.User),
            Math.Round(time.GetElapsedTime(series.Started, nowTimestamp).TotalSeconds, 1),
            new StatusTotals(totals.Requests, totals.Failures, errors.Cancelled, totals.PromptTokens, totals.CachedTokens, totals.RecomputedTokens,
                totals.OutputTokens, totals.SideRequests, Ratio(totals.CachedTokens, totals.PromptTokens), Math.Round(secondsSaved, 2), tracked.Count,
                routing.QueueLength, instances.Count, instances.Count(i => i.Healthy), slots, busy),
            Limits(),
            instances,
            conversationRows,
            Users(viewer, keySet, tracked),
            new StatusSideLane(sideSlots, sideBusy, sideServed, totals.SideRequests),
            errors.Snapshot().Where(e => viewer.Sees(e.User))
                .Select(e => new StatusError(e.At, e.Route, e.Status, e.Kind, e.Message, e.User, e.Upstream)).ToList(),
            Series());
        return document;
    }

    private StatusSlotSave? SlotSave(UpstreamInstance instance)
    {
        if (savedStates.For(instance) is not { } index)
        {
            return null;
        }

        var s = index.Statistics(instance.Options.SlotSave);
        return new StatusSlotSave(s.Supported, s.UnsupportedReason, s.Files, s.BytesOnDisk, s.BudgetBytes, s.Saves, s.SaveFailures, s.BytesWritten,
            s.Skipped, s.Restores, s.RestoreFailures, s.TokensRestored, s.BytesRead);
    }

    private static InstanceRoutingSnapshot? FindRouting(RoutingSnapshot routing, string name)
    {
        foreach (var instance in routing.Instances)
        {
            if (instance.Name == name)
            {
                return instance;
            }
        }

        return null;
    }

    private StatusLimits Limits()
    {
        var limits = options.CurrentValue.Limits;
        return new StatusLimits(limits.MaxConcurrentRequestsPerUser, limits.QueueLimit, limits.QueueSeconds);
    }

    private List<StatusUser> Users(DashboardViewer viewer, KeySet keySet, IReadOnlyList<ConversationRecord> tracked)
    {
        // Configured users are listed from the start, so the team sees who has not used the gateway yet.
        var names = new SortedSet<string>(keySet.UserNames, StringComparer.Ordinal);
        foreach (var name in ledger.Users.Keys)
        {
            names.Add(name);
        }

        var rows = new List<StatusUser>(names.Count);
        foreach (var name in names)
        {
            if (!viewer.Sees(name))
            {
                continue;
            }

            var counters = ledger.Users.TryGetValue(name, out var found) ? found : EmptyCounters;
            var own = tracked.Where(c => (c.User ?? UsageLedger.AnonymousUser) == name).ToList();
            // On an open gateway nobody is capped (requests carry no user), so there is no load to show.
            var load = keySet.IsOpen ? null : limiter.UserStatistics(name);
            rows.Add(new StatusUser(name, counters.Requests, counters.Failures, counters.PromptTokens, counters.CachedTokens, counters.RecomputedTokens,
                counters.OutputTokens, counters.SideRequests, Ratio(counters.CachedTokens, counters.PromptTokens), Math.Round(own.Sum(c => c.SecondsSaved), 2),
                own.Count, load?.Active, load?.Queued));
        }

        return rows;
    }

    private StatusSeries Series()
    {
        var (points, current) = series.Snapshot();
        return new StatusSeries(series.Interval.TotalSeconds, series.Interval.TotalSeconds * series.Capacity, points.Select(Point).ToList(), Point(current));
    }

    private static StatusPoint Point(UsagePoint p) =>
        new(p.At, p.Seconds, p.Requests, p.PromptTokens, p.CachedTokens, p.RecomputedTokens, p.OutputTokens, p.CacheHitRatio);

    private static double? Ratio(long part, long whole) => whole > 0 ? Math.Round((double)part / whole, 4) : null;

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 1) : null;
}
