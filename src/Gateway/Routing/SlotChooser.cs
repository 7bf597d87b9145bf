using LlamaGateway.Conversations;

namespace LlamaGateway.Routing;

/// <summary>
/// The routing decision as pure arithmetic over the router's state, in seconds of upstream work:
/// taking an idle slot costs the prefill of what it cannot reuse plus the (recency-weighted) prefill its current
/// holder would need if it came back; waiting for the conversation's own busy slot costs the expected wait.
/// </summary>
internal static class SlotChooser
{
    /// <summary>Tokens per canonical character assumed until an instance reports prompt sizes.</summary>
    public const double DefaultTokensPerChar = 0.27;

    /// <summary>
    /// Share of an evicted conversation's prefill counted against taking its slot when llama-server saves the slot
    /// to its host-RAM prompt cache (--cache-ram) first, from where it is often restored.
    /// </summary>
    public const double EvictionWeight = 0.5;

    /// <summary>
    /// How many more times an active conversation is expected to come back (Claude Code sends a request per tool
    /// round): what it loses on eviction it pays again on each return while two conversations alternate on a slot.
    /// </summary>
    public const double ActiveReturns = 8;

    /// <summary>
    /// llama-server consults its host-RAM prompt cache (<c>--cache-ram</c>) for a pinned slot when the prompt keeps less
    /// than half of what the slot holds, or shares at most a tenth of the prompt, and may then load any slot's saved
    /// state by prefix, whoever computed it. Under <see cref="IsolationMode.PerUser"/> a request reuses its slot only
    /// when the gateway expects neither; its estimate is a character count, hence the margins above 0.5 and 0.1.
    /// </summary>
    public const double IsolationKeepFraction = 0.6;

    /// <inheritdoc cref="IsolationKeepFraction"/>
    public const double IsolationPromptFraction = 0.15;

    public static SlotChoice Choose(SlotWaiter waiter, IReadOnlyList<InstanceSlots> pools, RoutingOptions options, long now, long frequency)
    {
        var route = waiter.Request.Route;
        var fingerprint = waiter.Request.Fingerprint;
        var scope = waiter.Scope;
        if (waiter.Kind == RequestKind.Side)
        {
            return ChooseSide(pools, route, fingerprint, scope, options, now, frequency);
        }

        if (waiter.FairnessKey is { } key && OverUserCap(pools, key, options))
        {
            return SlotChoice.WaitAny("user-cap");
        }

        var conversation = waiter.Conversation;
        SlotState? own = null;
        InstanceSlots? ownPool = null;
        var ownWork = 0.0;
        var ownLongAllowed = false;
        InstanceSlots? bestPool = null;
        SlotState? best = null;
        var bestCost = double.MaxValue;
        var bestWork = 0.0;
        var bestLong = false;
        var gated = false;
        foreach (var pool in pools)
        {
            if (!pool.Instance.IsHealthy || !SlotRouter.CanServe(pool.Instance, route))
            {
                continue;
            }

            var speed = PrefillSpeed(pool, options);
            var tokensPerChar = TokensPerChar(pool);
            var load = pool.BusyCount();
            var longAllowed = pool.CanStartLongPrefill(options);

            // A saved state of this conversation on this instance can be restored into any of its slots.
            var restore = pool.SavedStates is { } saved && fingerprint is not null ? saved.Restorable(fingerprint, tokensPerChar, scope) : default;
            var order = new BatchOrder(pool, now, frequency);
            foreach (var slot in pool.Slots)
            {
                order.Pass(slot);
                if (slot.SideLane)
                {
                    continue;
                }

                if (conversation is not null && slot.ConversationId == conversation.Id)
                {
                    own = slot;
                    ownPool = pool;
                }

                if (slot.Busy)
                {
                    continue;
                }

                var cost = RecomputeSeconds(slot, fingerprint, tokensPerChar, speed, scope);
                var prefill = cost;
                if (slot == own)
                {
                    ownWork = cost;
                    ownLongAllowed = longAllowed;
                }

                if (restore.Tokens > 0 && restore.Tokens >= ReusableTokens(slot, fingerprint, tokensPerChar, scope) + pool.Instance.Options.SlotSave.MinTokens)
                {
                    // The slot save/restore stage restores it when it reuses clearly more than the slot holds.
                    var total = (fingerprint?.PromptChars ?? 0) * tokensPerChar;
                    var restoreSpeed = restore.TokensPerSecond > 0 ? restore.TokensPerSecond : speed * SlotPersistence.SavedStateIndex.AssumedRestoreSpeedup;
                    var afterRestore = Math.Max(0, total - restore.Tokens) / speed;
                    var viaRestore = afterRestore + (restore.Tokens / restoreSpeed);
                    if (viaRestore < cost)
                    {
                        cost = viaRestore;
                        prefill = afterRestore;
                    }
                }

                // Only what must be prefilled counts as long: a restore reads a file and leaves the cores to others.
                var isLong = prefill > options.LongPrefillSeconds;
                if (isLong && !longAllowed)
                {
                    gated = true;
                    continue;
                }

                var work = cost;
                if (slot.ConversationId is not null && slot.ConversationId != conversation?.Id)
                {
                    cost += EvictionSeconds(slot, fingerprint, waiter.FairnessKey, tokensPerChar, speed, options, now, frequency, scope);
                }

                cost += order.DelaySeconds(work, isLong);

                // Ties (e.g. several empty slots) go to the less loaded instance, then the least recently used slot.
                cost += load * 1e-6;
                if (cost < bestCost || (cost == bestCost && best is not null && slot.LastUsed < best.LastUsed))
                {
                    bestCost = cost;
                    bestWork = work;
                    bestLong = isLong;
                    best = slot;
                    bestPool = pool;
                }
            }
        }

        if (own is not null && !own.Busy)
        {
            var ownLong = ownWork > options.LongPrefillSeconds;
            if (!ownLong || ownLongAllowed)
            {
                return SlotChoice.Take(ownPool!, own, "own-slot", ownWork, ownLong);
            }

            gated = true;
        }

        if (own is not null && own.Busy && !waiter.PreferenceExpired)
        {
            var speed = PrefillSpeed(ownPool!, options);
            var wait = ExpectedWaitSeconds(ownPool!, own, now, frequency);
            var afterWait = wait + RecomputeSeconds(own, fingerprint, TokensPerChar(ownPool!), speed, scope);
            if (best is null || afterWait < bestCost)
            {
                return SlotChoice.Wait(own, Math.Max(1, 2 * wait), "wait-own-slot");
            }
        }

        if (best is not null)
        {
            var reason = own is not null ? "repinned"
                : fingerprint is not null && best.PrefixKey == fingerprint.PrefixKey && best.HoldsAnything && scope.Covers(best.User) ? "prefix-match"
                : best.HoldsAnything ? "evict-least-valuable" : "empty-slot";
            return SlotChoice.Take(bestPool!, best, reason, bestWork, bestLong);
        }

        return SlotChoice.WaitAny(gated ? "long-prefill-limit" : "all-busy");
    }

    private static SlotChoice ChooseSide(IReadOnlyList<InstanceSlots> pools, Pipeline.ApiRoute route, ConversationFingerprint? fingerprint, ReuseScope scope, RoutingOptions options, long now, long frequency)
    {
        InstanceSlots? bestPool = null;
        SlotState? best = null;
        var bestCost = double.MaxValue;
        var bestWork = 0.0;
        foreach (var pool in pools)
        {
            if (!pool.Instance.IsHealthy || !SlotRouter.CanServe(pool.Instance, route))
            {
                continue;
            }

            var hasLane = Array.Exists(pool.Slots, s => s.SideLane);
            var speed = PrefillSpeed(pool, options);
            var order = new BatchOrder(pool, now, frequency);
            foreach (var slot in pool.Slots)
            {
                order.Pass(slot);
                // Instances with a side lane keep side requests there; small ones have none and must share.
                if (slot.Busy || (hasLane && !slot.SideLane))
                {
                    continue;
                }

                var work = RecomputeSeconds(slot, fingerprint, TokensPerChar(pool), speed, scope);
                var cost = work + (slot.SideLane ? 0 : EvictionSeconds(slot, fingerprint, null, TokensPerChar(pool), speed, options, now, frequency, scope))
                    + order.DelaySeconds(work);
                if (cost < bestCost)
                {
                    bestCost = cost;
                    bestWork = work;
                    best = slot;
                    bestPool = pool;
                }
            }
        }

        return best is null ? SlotChoice.WaitAny("side-lane-busy") : SlotChoice.Take(bestPool!, best, best.SideLane ? "side-lane" : "side-shared", bestWork);
    }

    private static bool OverUserCap(IReadOnlyList<InstanceSlots> pools, string key, RoutingOptions options)
    {
        var held = 0;
        var mainSlots = 0;
        foreach (var pool in pools)
        {
            foreach (var slot in pool.Slots)
            {
                if (!slot.SideLane && pool.Instance.IsHealthy)
                {
                    mainSlots++;
                }

                if (slot.Busy && slot.BusyUser == key)
                {
                    held++;
                }
            }
        }

        var cap = options.MaxSlotsPerUser ?? Math.Max(1, (mainSlots + 1) / 2);
        return held >= cap;
    }

    /// <summary>Tokens of the request that <paramref name="slot"/>'s cache already holds (none when <paramref name="scope"/> does not cover whose they are).</summary>
    public static double ReusableTokens(SlotState slot, ConversationFingerprint? fingerprint, double tokensPerChar, ReuseScope scope = default) =>
        scope.Covers(slot.User) ? ReusableTokens(slot.HoldsAnything, slot.PrefixKey, slot.Chain, fingerprint, tokensPerChar) : 0;

    /// <summary>Tokens of the request that a slot holding <paramref name="content"/> already has (none when <paramref name="scope"/> does not cover whose they are).</summary>
    public static double ReusableTokens(SlotContent content, ConversationFingerprint? fingerprint, double tokensPerChar, ReuseScope scope = default) =>
        scope.Covers(content.User) ? ReusableTokens(true, content.PrefixKey, content.Chain, fingerprint, tokensPerChar) : 0;

    private static double ReusableTokens(bool holdsAnything, ulong prefixKey, ulong[] chain, ConversationFingerprint? fingerprint, double tokensPerChar)
    {
        if (fingerprint is null || !holdsAnything || prefixKey != fingerprint.PrefixKey)
        {
            return 0;
        }

        var shared = 0;
        var limit = Math.Min(chain.Length, fingerprint.Chain.Length);
        while (shared < limit && chain[shared] == fingerprint.Chain[shared])
        {
            shared++;
        }

        double chars;
        if (shared == 0)
        {
            chars = fingerprint.PrefixChars;
        }
        else if (fingerprint.ChainChars.Length >= shared)
        {
            chars = fingerprint.ChainChars[shared - 1];
        }
        else
        {
            chars = fingerprint.PromptChars * (double)shared / Math.Max(1, fingerprint.Chain.Length);
        }

        return chars * tokensPerChar;
    }

    /// <summary>
    /// Whether, under <see cref="IsolationMode.PerUser"/>, a request placed on <paramref name="slot"/> must go with
    /// <c>cache_prompt: false</c> (llama-server then computes the whole prompt, whatever the slot or its RAM cache
    /// holds): unless the slot is known to hold the requester's own tokens and keeps enough of them that llama-server
    /// does not look in its RAM cache (<see cref="IsolationKeepFraction"/>). A slot whose content is unknown (empty,
    /// or forgotten after a failure) may hold anyone's tokens.
    /// </summary>
    public static bool MustIsolate(SlotState slot, ConversationFingerprint? fingerprint, double tokensPerChar, ReuseScope scope) =>
        scope.PerUser && !(slot.HoldsAnything && scope.Covers(slot.User)
            && KeepsEnough(ReusableTokens(slot, fingerprint, tokensPerChar, scope), slot.CachedTokens, fingerprint, tokensPerChar));

    /// <summary>As <see cref="MustIsolate(SlotState, ConversationFingerprint?, double, ReuseScope)"/> for a slot holding <paramref name="content"/> (a restored state).</summary>
    public static bool MustIsolate(SlotContent content, ConversationFingerprint? fingerprint, double tokensPerChar, ReuseScope scope) =>
        scope.PerUser && !(scope.Covers(content.User)
            && KeepsEnough(ReusableTokens(content, fingerprint, tokensPerChar, scope), content.CachedTokens, fingerprint, tokensPerChar));

    private static bool KeepsEnough(double reusable, int cachedTokens, ConversationFingerprint? fingerprint, double tokensPerChar)
    {
        if (cachedTokens <= 0 || fingerprint is null)
        {
            return false;
        }

        var kept = Math.Min(reusable, cachedTokens);
        return kept >= IsolationKeepFraction * cachedTokens && kept >= IsolationPromptFraction * fingerprint.PromptChars * tokensPerChar;
    }

    public static double RecomputeSeconds(SlotState slot, ConversationFingerprint? fingerprint, double tokensPerChar, double speed, ReuseScope scope = default)
    {
        var total = (fingerprint?.PromptChars ?? 0) * tokensPerChar;
        return Math.Max(0, total - ReusableTokens(slot, fingerprint, tokensPerChar, scope)) / speed;
    }

    /// <summary>
    /// Seconds of prefill that giving <paramref name="slot"/> to this request costs the conversation holding it,
    /// fading as the holder stays idle. llama-server keeps the prefix the new prompt shares and saves the old state to
    /// its RAM cache only when less than half of it survives; otherwise the holder's tail is dropped for good and an
    /// active holder pays for it on every return, which is what makes two people's conversations in one repository
    /// ping-pong on one slot while others sit empty. A client's own earlier conversation is expected back at most
    /// once: starting a new conversation usually means the old one is done. Under <see cref="IsolationMode.PerUser"/>
    /// the request is not compared with another user's tokens at all (what it shares with them must not steer where it
    /// goes): their slot counts as saved to the RAM cache.
    /// </summary>
    public static double EvictionSeconds(SlotState slot, ConversationFingerprint? fingerprint, string? requester, double tokensPerChar, double speed, RoutingOptions options, long now, long frequency, ReuseScope scope = default)
    {
        if (!slot.HoldsAnything || slot.CachedTokens <= 0)
        {
            return 0;
        }

        var idleMinutes = (now - slot.LastUsed) / (double)frequency / 60.0;
        var fade = Math.Pow(0.5, idleMinutes / Math.Max(0.1, options.CacheValueHalfLifeMinutes));
        var kept = Math.Min(ReusableTokens(slot, fingerprint, tokensPerChar, scope), slot.CachedTokens);
        var lost = kept >= slot.CachedTokens * 0.5
            ? (slot.CachedTokens - kept) * (requester is not null && requester == slot.User ? 1 : ActiveReturns)
            : slot.CachedTokens * EvictionWeight;
        return lost / speed * fade;
    }

    public static double ExpectedWaitSeconds(InstanceSlots pool, SlotState slot, long now, long frequency)
    {
        var elapsed = (now - slot.BusySince) / (double)frequency;
        return Math.Max(pool.AverageHoldSeconds - elapsed, pool.AverageHoldSeconds * 0.2);
    }

    public static double PrefillSpeed(InstanceSlots pool, RoutingOptions options) =>
        pool.PrefillTokensPerSecond > 0 ? pool.PrefillTokensPerSecond : Math.Max(1, options.DefaultPrefillTokensPerSecond);

    public static double TokensPerChar(InstanceSlots pool) => pool.TokensPerChar > 0 ? pool.TokensPerChar : DefaultTokensPerChar;
}
