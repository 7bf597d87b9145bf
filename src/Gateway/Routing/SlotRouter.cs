using LlamaGateway.Conversations;
using LlamaGateway.Errors;
using LlamaGateway.Pipeline;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Routing;

/// <summary>
/// Stage 3: chooses the (instance, slot) for each request so that tokens already in a slot's KV cache are reused.
/// A conversation goes back to its own slot; if that slot is busy it waits while waiting is cheaper than
/// re-computing elsewhere, else it re-pins to the idle slot whose content is least valuable. New conversations go
/// where their system prompt already sits. Side requests use reserved slots. One lock guards all routing state;
/// every decision is a few microseconds of arithmetic.
/// </summary>
internal sealed class SlotRouter
{
    private readonly object _gate = new();
    private readonly LinkedList<SlotWaiter> _queue = new();
    private readonly UpstreamRegistry _registry;
    private readonly IOptionsMonitor<RoutingOptions> _options;
    private readonly TimeProvider _time;
    private readonly Dictionary<InstanceSlots, int> _generations = new(ReferenceEqualityComparer.Instance);
    private readonly ILogger<SlotRouter>? _logger;
    private readonly SlotPersistence.SavedStateCatalog? _savedStates;
    private readonly CacheIsolation _isolation;
    private IReadOnlyList<UpstreamInstance>? _syncedFrom;
    private List<InstanceSlots> _pool = [];

    public SlotRouter(UpstreamRegistry registry, IOptionsMonitor<RoutingOptions> options, TimeProvider time, ILogger<SlotRouter>? logger = null,
        SlotPersistence.SavedStateCatalog? savedStates = null, CacheIsolation? isolation = null)
    {
        _registry = registry;
        _options = options;
        _time = time;
        _logger = logger;
        _savedStates = savedStates;
        _isolation = isolation ?? CacheIsolation.Shared;
    }

    /// <summary>Whose cached tokens requests may reuse (<c>Gateway:Isolation</c>, read at start-up).</summary>
    public IsolationMode Isolation => _isolation.Mode;

    private int _yielding;

    /// <summary>Chunked prefills waiting right now for shorter prompts to be processed (<see cref="WaitForShorterPrefillsAsync"/>).</summary>
    public int YieldingPrefills => Volatile.Read(ref _yielding);

    /// <summary>Configured instances right now (bounds the pipeline's retries on connect failures).</summary>
    public int InstanceCount => _registry.Instances.Count;

    /// <summary>Requests waiting for a slot right now.</summary>
    public int QueueLength
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>
    /// Returns a lease on an (instance, slot), waiting in the queue if needed; null when no instance can serve the
    /// request or the queue wait ran out (the reason is recorded on the request).
    /// </summary>
    public async ValueTask<RoutingLease?> RouteAsync(GatewayRequestContext request, ConversationRecord? conversation, CancellationToken cancellationToken)
    {
        var kind = RequestClassifier.Classify(request.Route, request.Fingerprint);
        request.Kind = kind;
        var waiter = new SlotWaiter(request, kind, kind == RequestKind.Conversation ? conversation : null, request.ClientIdentity, _time.GetTimestamp(),
            _isolation.ScopeFor(request.ClientIdentity));
        lock (_gate)
        {
            SyncPool();
            if (kind == RequestKind.Slotless)
            {
                return LeaseSlotless(request);
            }

            if (!AnyServing(request.Route))
            {
                return null;
            }

            _queue.AddLast(waiter);
            Dispatch();
        }

        if (waiter.IsDone)
        {
            return await waiter.Task;
        }

        var maxWait = TimeSpan.FromSeconds(_options.CurrentValue.MaxQueueSeconds);
        // Completions happen under the lock only, so a cancelled waiter can never also be handed a slot (which would
        // then stay busy forever).
        using var registration = cancellationToken.Register(() =>
        {
            lock (_gate)
            {
                if (!waiter.IsDone)
                {
                    _queue.Remove(waiter);
                    waiter.Complete(null);
                }
            }
        });
        while (!waiter.IsDone)
        {
            var now = _time.GetTimestamp();
            var queueLeft = maxWait - _time.GetElapsedTime(waiter.Enqueued, now);
            var next = queueLeft;
            if (waiter.WaitingFor is not null && !waiter.PreferenceExpired)
            {
                var preferenceLeft = _time.GetElapsedTime(now, waiter.PreferenceDeadline);
                next = preferenceLeft < next ? preferenceLeft : next;
            }

            if (next > TimeSpan.Zero)
            {
                using var timer = new CancellationTokenSource(next, _time);
                await Task.WhenAny(waiter.Task, Task.Delay(Timeout.InfiniteTimeSpan, timer.Token));
            }

            lock (_gate)
            {
                if (waiter.IsDone)
                {
                    break;
                }

                if (_time.GetElapsedTime(waiter.Enqueued) >= maxWait)
                {
                    _queue.Remove(waiter);
                    request.Fail(ApiErrorKind.Overloaded, $"Every slot stayed busy for {maxWait.TotalSeconds:0} s (Gateway:Routing:MaxQueueSeconds).");
                    waiter.Complete(null);
                    break;
                }

                if (waiter.WaitingFor is not null && _time.GetTimestamp() >= waiter.PreferenceDeadline)
                {
                    waiter.PreferenceExpired = true;
                    Dispatch();
                }
            }
        }

        var lease = await waiter.Task;
        if (lease is null)
        {
            lock (_gate)
            {
                _queue.Remove(waiter);
            }
        }
        else if (cancellationToken.IsCancellationRequested)
        {
            lease.Dispose();
            return null;
        }

        return lease;
    }

    /// <summary>
    /// Re-reads the pool (slot counts discovered from /props, health changes) and places queued requests that can
    /// now run; the upstream monitor calls it after every probe round.
    /// </summary>
    public void Refresh()
    {
        lock (_gate)
        {
            SyncPool();
            Dispatch();
        }
    }

    /// <summary>
    /// Why no instance can take a request: each instance's state, for the 503 message. Only the gateway's own words
    /// (<see cref="UpstreamInstance.PublicError"/>): the instance's LastError may quote another user's upstream error.
    /// </summary>
    public string DescribeUnavailable(ApiRoute route)
    {
        var instances = _registry.Instances;
        var parts = new List<string>(instances.Count);
        foreach (var instance in instances)
        {
            var state = !CanServe(instance, route) ? "speaks only the Anthropic dialect"
                : instance.IsHealthy ? "all slots busy" : instance.PublicError ?? "unhealthy";
            parts.Add($"'{instance.Name}' ({instance.DestinationPrefix}): {state}");
        }

        return string.Join("; ", parts);
    }

    /// <summary>A consistent copy of the routing state for the dashboard and metrics.</summary>
    public RoutingSnapshot Snapshot()
    {
        lock (_gate)
        {
            SyncPool();
            var now = _time.GetTimestamp();
            var instances = new List<InstanceRoutingSnapshot>(_pool.Count);
            foreach (var pool in _pool)
            {
                var slots = new List<SlotSnapshot>(pool.Slots.Length);
                foreach (var slot in pool.Slots)
                {
                    slots.Add(new SlotSnapshot(slot.Index, slot.SideLane, slot.Busy, slot.BusyUser ?? slot.User, slot.ConversationId, slot.CachedTokens,
                        slot.LastUsed == 0 ? null : _time.GetElapsedTime(slot.LastUsed, now).TotalSeconds, slot.Requests));
                }

                var queued = 0;
                foreach (var waiter in _queue)
                {
                    if (waiter.WaitingFor is not null && Array.IndexOf(pool.Slots, waiter.WaitingFor) >= 0)
                    {
                        queued++;
                    }
                }

                instances.Add(new InstanceRoutingSnapshot(pool.Instance.Name, pool.PrefillTokensPerSecond, pool.AverageHoldSeconds, queued, slots));
            }

            return new RoutingSnapshot(_queue.Count, instances);
        }
    }

    /// <summary>An Anthropic-dialect upstream cannot answer OpenAI-dialect routes; the reverse is translated.</summary>
    public static bool CanServe(UpstreamInstance instance, ApiRoute route) =>
        instance.Dialect == ApiDialect.OpenAi || route.ClientDialect() == ApiDialect.Anthropic;

    private void SyncPool()
    {
        var instances = _registry.Instances;
        if (!ReferenceEquals(instances, _syncedFrom))
        {
            var next = new List<InstanceSlots>(instances.Count);
            foreach (var instance in instances)
            {
                next.Add(_pool.Find(p => ReferenceEquals(p.Instance, instance)) ?? new InstanceSlots(instance));
            }

            _pool = next;
            _syncedFrom = instances;
            foreach (var gone in _generations.Keys.Where(p => !next.Contains(p)).ToList())
            {
                _generations.Remove(gone);
            }
        }

        var sideLanes = _options.CurrentValue.SideLaneSlots;
        foreach (var pool in _pool)
        {
            pool.EnsureShape(sideLanes);
            ForgetIfRestarted(pool);
            pool.SavedStates = _savedStates?.For(pool.Instance);
        }
    }

    /// <summary>
    /// An instance that came back from being down has most likely restarted with empty slots; what the router
    /// believed they held (and which conversations they belonged to) would draw those conversations back to a cache
    /// that no longer exists, away from the instance they failed over to.
    /// </summary>
    private void ForgetIfRestarted(InstanceSlots pool)
    {
        var generation = pool.Instance.Generation;
        if (_generations.TryGetValue(pool, out var seen) && seen != generation)
        {
            foreach (var slot in pool.Slots)
            {
                if (!slot.Busy)
                {
                    slot.Forget();
                }
            }
        }

        _generations[pool] = generation;
    }

    private bool IsServing(string instanceName)
    {
        foreach (var pool in _pool)
        {
            if (pool.Instance.Name == instanceName)
            {
                return pool.Instance.IsHealthy;
            }
        }

        return false;
    }

    private bool AnyServing(ApiRoute route)
    {
        foreach (var pool in _pool)
        {
            if (pool.Instance.IsHealthy && CanServe(pool.Instance, route))
            {
                return true;
            }
        }

        return false;
    }

    private RoutingLease? LeaseSlotless(GatewayRequestContext request)
    {
        InstanceSlots? best = null;
        foreach (var pool in _pool)
        {
            if (pool.Instance.IsHealthy && CanServe(pool.Instance, request.Route) && (best is null || pool.SlotlessInFlight + pool.BusyCount() < best.SlotlessInFlight + best.BusyCount()))
            {
                best = pool;
            }
        }

        if (best is null)
        {
            return null;
        }

        best.SlotlessInFlight++;
        var chosen = best;
        return new RoutingLease(best.Instance, null, "slotless", _ =>
        {
            lock (_gate)
            {
                chosen.SlotlessInFlight--;
            }
        });
    }

    /// <summary>
    /// Places every queued request that can be placed now, shortest expected upstream work first, each second of
    /// waiting counting as a second less work. llama-server runs up to one request per slot at a time, so when slots
    /// are scarce a follow-up turn that reuses its cache (a fraction of a second of prefill) would otherwise queue
    /// behind a new conversation's full prefill (many seconds); ageing bounds how long a long request can be passed
    /// over by roughly the difference in work. Caller holds the lock.
    /// </summary>
    private void Dispatch()
    {
        var options = _options.CurrentValue;
        while (true)
        {
            var now = _time.GetTimestamp();
            LinkedListNode<SlotWaiter>? pick = null;
            SlotChoice pickChoice = default;
            var pickScore = double.MaxValue;
            var node = _queue.First;
            while (node is not null)
            {
                var next = node.Next;
                var waiter = node.Value;
                if (waiter.IsDone)
                {
                    _queue.Remove(node);
                }
                else if (!AnyServing(waiter.Request.Route))
                {
                    _queue.Remove(node);
                    waiter.Complete(null);
                }
                else
                {
                    var choice = SlotChooser.Choose(waiter, _pool, options, now, _time.TimestampFrequency);
                    if (choice.Slot is not null)
                    {
                        var score = choice.WorkSeconds - _time.GetElapsedTime(waiter.Enqueued, now).TotalSeconds;
                        if (score < pickScore)
                        {
                            pickScore = score;
                            pick = node;
                            pickChoice = choice;
                        }
                    }
                    else
                    {
                        waiter.Request.NoteWaitReason(choice.Reason);
                        if (choice.WaitFor is not null && waiter.WaitingFor != choice.WaitFor)
                        {
                            waiter.WaitingFor = choice.WaitFor;
                            waiter.PreferenceDeadline = now + (long)(choice.WaitBudgetSeconds * _time.TimestampFrequency);
                        }
                    }
                }

                node = next;
            }

            if (pick is null)
            {
                return;
            }

            _queue.Remove(pick);
            pick.Value.WaitingFor = null;
            pick.Value.Complete(Lease(pick.Value, pickChoice));
        }
    }

    private RoutingLease Lease(SlotWaiter waiter, SlotChoice choice)
    {
        var pool = choice.Pool!;
        var slot = choice.Slot!;
        var now = _time.GetTimestamp();
        slot.Busy = true;
        slot.BusySince = now;
        slot.BusyUser = waiter.FairnessKey;
        slot.PrefillUntil = now + (long)(Math.Max(0, choice.WorkSeconds) * _time.TimestampFrequency);
        slot.LongPrefill = choice.LongPrefill;
        slot.Prefilling = true;
        slot.Chunked = false;
        var preempt = pool.CanPin && _options.CurrentValue.PreemptLongPrefills;
        slot.Preemption = preempt && choice.LongPrefill ? new PrefillPreemption(_time, choice.WorkSeconds) : null;
        var heldUp = preempt && !choice.LongPrefill ? HoldUpLongPrefillsBelow(pool, slot, choice.WorkSeconds, now) : null;
        var conversation = waiter.Conversation;
        var reason = choice.Reason;
        if (conversation is not null)
        {
            var previous = conversation.Instance;
            var moved = previous is not null && (previous != pool.Instance.Name || conversation.Slot != slot.Index);
            if (moved && previous != pool.Instance.Name && !IsServing(previous!))
            {
                // Forced off a dead or removed instance: counted apart from re-pins chosen for cache or load.
                conversation.Failovers++;
                pool.Instance.CountFailoverIn();
                _registry.Find(previous!)?.CountFailoverOut();
                reason = "failover";
                if (_logger is not null)
                {
                    Reliability.ReliabilityLog.FailedOver(_logger, conversation.Id, previous!, pool.Instance.Name, slot.Index);
                }
            }
            else if (moved)
            {
                conversation.Repins++;
            }

            conversation.Instance = pool.Instance.Name;
            conversation.Slot = slot.Index;
        }

        var held = pool.CanPin ? slot.Capture() : null;
        var tokensPerChar = SlotChooser.TokensPerChar(pool);
        var isolate = pool.CanPin && SlotChooser.MustIsolate(slot, waiter.Request.Fingerprint, tokensPerChar, waiter.Scope);

        // The conversation whose cache this request replaces no longer owns the slot: its next turn must not wait for
        // the slot as its own while another conversation overwrites it (its state is saved, or in llama-server's RAM cache).
        var displaced = slot.ConversationId is { } owner && owner != conversation?.Id ? owner : null;
        var leasedChain = slot.Chain;
        if (displaced is not null)
        {
            slot.ConversationId = null;
        }

        // The log line and the dashboard say when a request was sent not to reuse its slot (Gateway:Isolation PerUser).
        return new RoutingLease(pool.Instance, pool.CanPin ? slot.Index : null, isolate ? reason + "+isolated" : reason, _ => Release(pool, slot, waiter, now, displaced, leasedChain))
        {
            Held = held,
            TokensPerChar = tokensPerChar,
            Scope = waiter.Scope,
            IsolatePrompt = isolate,
            ConversationId = conversation?.Id,
            SlotState = slot,
            Pool = pool,
            OnPrefillDone = _ => PrefillDone(pool, slot),
            Preemption = slot.Preemption,
            HeldUp = heldUp,
        };
    }

    /// <summary>
    /// Pauses the long prefills on slots below <paramref name="slot"/> that would otherwise take every batch until
    /// they finish, when this request's prompt is short beside what they have left (<see cref="PrefillPreemption"/>).
    /// Each paused slot is then expected to finish its prompt that much later. Caller holds the lock.
    /// </summary>
    private PrefillPreemption[]? HoldUpLongPrefillsBelow(InstanceSlots pool, SlotState slot, double workSeconds, long now)
    {
        List<PrefillPreemption>? heldUp = null;
        var frequency = _time.TimestampFrequency;
        foreach (var below in pool.Slots)
        {
            if (below == slot)
            {
                break;
            }

            if (below is { Busy: true, LongPrefill: true, Preemption: { } preemption }
                && PrefillPreemption.Worthwhile((below.PrefillUntil - now) / (double)frequency, workSeconds)
                && preemption.TryHoldUp())
            {
                (heldUp ??= []).Add(preemption);
                below.PrefillUntil += (long)(Math.Max(0, workSeconds) * frequency);
            }
        }

        return heldUp?.ToArray();
    }

    /// <summary>
    /// The request on <paramref name="slot"/> has processed its prompt. Its prefill no longer delays the slots above
    /// it in llama-server's batch order, and a long prefill that was waiting for this one may start. Only the lease
    /// holding the slot can call it: a lease drops the callback when it is released.
    /// </summary>
    private void PrefillDone(InstanceSlots pool, SlotState slot)
    {
        lock (_gate)
        {
            var wasLong = slot.LongPrefill;
            pool.EndPrefill(slot);
            slot.PrefillUntil = Math.Min(slot.PrefillUntil, _time.GetTimestamp());
            if (wasLong)
            {
                Dispatch();
            }
        }
    }

    /// <summary>
    /// How to prefill the leased request's prompt in chunks, or null when it should go in one piece: chunking off (or
    /// replaced by pausing), an instance that cannot pin slots or has only one, or less than
    /// <see cref="PrefillChunkPlan.MinChunks"/> chunks' worth of the prompt left to compute beyond what the slot holds
    /// (<see cref="PrefillChunkPlan.AloneChunks"/> while no other slot of the instance is busy). Otherwise the slot is
    /// marked as chunked from now on, so shorter prompts no longer wait for it and it waits for them (<see cref="WaitForShorterPrefillsAsync"/>). Not only
    /// new conversations' long prompts: a follow-up turn with a thousand new tokens also gives way to the many with a
    /// few hundred (the cache bench's follow-up mean fell from 4.9 to 2.2 s with it, and from 3.6 to 2.6 s when only
    /// long prefills were chunked; bench/results/archive/2026-12-04-chunked-prefill/).
    /// </summary>
    public PrefillChunkPlan? PlanPrefillChunks(RoutingLease lease, ConversationFingerprint? fingerprint)
    {
        var options = _options.CurrentValue;
        if (options.PrefillChunkSeconds <= 0 || options.PreemptLongPrefills || fingerprint is null)
        {
            return null;
        }

        lock (_gate)
        {
            if (lease.Pool is not { CanPin: true } pool || pool.Slots.Length < 2 || lease.SlotState is not { Busy: true, Prefilling: true } slot)
            {
                return null;
            }

            var speed = SlotChooser.PrefillSpeed(pool, options);
            var tokensPerChar = SlotChooser.TokensPerChar(pool);
            var total = fingerprint.PromptChars * tokensPerChar;
            // An isolated request reuses nothing of what the slot held: its first chunk goes with cache_prompt false.
            var reusable = lease.Isolated ? 0 : Math.Min(SlotChooser.ReusableTokens(slot, fingerprint, tokensPerChar, lease.Scope), total);
            var chunkTokens = Math.Max(PrefillChunkPlan.MinChunkTokens, options.PrefillChunkSeconds * speed);
            // Chunks let other slots' shorter prompts through at a cost to this one (each chunk is a request of its
            // own: +0.3 s on a lone ~1,000-token follow-up in two chunks). With no other slot busy there is nobody to
            // let through yet, so a medium prompt goes whole, and one arriving meanwhile waits for less than
            // AloneChunks chunks.
            var minimumChunks = pool.BusyCount() > 1 ? PrefillChunkPlan.MinChunks : PrefillChunkPlan.AloneChunks;
            if (total - reusable < minimumChunks * chunkTokens)
            {
                return null;
            }

            slot.Chunked = true;
            pool.SignalIfNoShortPrefill();
            return new PrefillChunkPlan(total, reusable, chunkTokens, speed);
        }
    }

    /// <summary>
    /// Waits while another slot of the leased slot's instance processes a prompt that is not being chunked (at most
    /// <paramref name="budget"/>); returns how long it waited. llama-server fills each batch slot by slot in index
    /// order, so a short prompt on a higher slot than a long one gets no batch room until the long one is done; with
    /// the long one fed a chunk at a time and held back meanwhile, it waits for one chunk at most.
    /// </summary>
    public async ValueTask<TimeSpan> WaitForShorterPrefillsAsync(RoutingLease lease, TimeSpan budget, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        while (true)
        {
            Task done;
            lock (_gate)
            {
                if (lease.Pool is not { } pool || lease.SlotState is not { Busy: true } slot || !pool.AnyShortPrefill(slot))
                {
                    break;
                }

                done = pool.ShortPrefillsDone();
            }

            var left = budget - _time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                break;
            }

            using var timer = new CancellationTokenSource(left, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
            Interlocked.Increment(ref _yielding);
            try
            {
                await done.WaitAsync(linked.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                break;
            }
            finally
            {
                Interlocked.Decrement(ref _yielding);
            }
        }

        return _time.GetElapsedTime(started);
    }

    /// <summary>
    /// The leased slot's content was replaced before the request ran (a saved state restored into it, a failed restore
    /// that left it empty, or chunks of the request's prompt; null when what it holds is not known): what it holds now
    /// is what a request that never reaches the upstream leaves behind, and what the next routing decision must see.
    /// A state restored from another conversation (a shared prefix) does not make the slot that conversation's: the
    /// request holding it is about to overwrite it, so that conversation must not wait for the slot as its own.
    /// </summary>
    public void SlotNowHolds(RoutingLease lease, SlotContent? content)
    {
        lock (_gate)
        {
            if (lease.SlotState is not { Busy: true } slot)
            {
                return;
            }

            if (content is null)
            {
                slot.Forget();
            }
            else
            {
                slot.Load(content.ConversationId == lease.ConversationId ? content : content with { ConversationId = null }, _time.GetTimestamp());
            }
        }
    }

    /// <summary>
    /// The first chunk of the leased request's prompt is in the slot (<c>PrefillChunking</c>). A slot that held another
    /// conversation's tokens now holds this request's instead: what the router believed it held is forgotten, so a
    /// request that never reaches the upstream does not leave the slot to that conversation (or its user) as if intact.
    /// </summary>
    public void ChunkPrefilled(RoutingLease lease)
    {
        lock (_gate)
        {
            if (lease.SlotState is { Busy: true } slot && (lease.ConversationId is null || slot.ConversationId != lease.ConversationId))
            {
                slot.Forget();
            }
        }
    }

    private void Release(InstanceSlots pool, SlotState slot, SlotWaiter waiter, long started, string? displaced, ulong[] leasedChain)
    {
        var request = waiter.Request;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            slot.Busy = false;
            slot.BusyUser = null;
            slot.PrefillUntil = 0;
            pool.EndPrefill(slot);
            if (request.UpstreamResponded && request.Fingerprint is { } fingerprint)
            {
                var usage = request.Usage;
                var promptTokens = usage.PromptTokens > 0 ? usage.PromptTokens : (int)(fingerprint.PromptChars * SlotChooser.TokensPerChar(pool));
                slot.Remember(fingerprint, promptTokens + Math.Max(0, usage.OutputTokens), waiter.Conversation?.Id, request.ClientIdentity, now);
                slot.Requests++;
                pool.ObserveUsage(usage.RecomputedTokens, usage.PromptMilliseconds, usage.PromptTokens, fingerprint.PromptChars, _time.GetElapsedTime(started, now).TotalSeconds);
                if (waiter.Conversation is { } conversation && usage.PromptTokens >= 0)
                {
                    conversation.Turns++;
                    conversation.PromptTokens += usage.PromptTokens;
                    conversation.CachedTokens += Math.Max(0, usage.CachedTokens);
                    conversation.RecomputedTokens += usage.RecomputedTokens;
                    conversation.SecondsSaved += Math.Max(0, usage.CachedTokens) / SlotChooser.PrefillSpeed(pool, _options.CurrentValue);
                }
            }
            else if (request.UpstreamResponded)
            {
                // Something unknown now sits in the slot; claim nothing about it.
                slot.Forget();
            }
            else if (displaced is not null && slot.ConversationId is null && ReferenceEquals(slot.Chain, leasedChain))
            {
                // Never reached the upstream and nothing was restored into the slot: the displaced conversation's cache is still there.
                slot.ConversationId = displaced;
            }

            Dispatch();
        }
    }
}
