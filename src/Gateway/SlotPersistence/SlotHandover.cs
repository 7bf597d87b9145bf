using LlamaGateway.Pipeline;
using LlamaGateway.Reliability;
using LlamaGateway.Routing;
using Polly.CircuitBreaker;

namespace LlamaGateway.SlotPersistence;

/// <summary>
/// The step between choosing a slot and forwarding to it, on instances with <c>SlotSave</c> enabled. The lease holds
/// the slot, so no request runs there meanwhile and llama-server can save or restore it:
/// <list type="number">
/// <item>When the slot holds another conversation's state that this request would overwrite, that state is saved to a
/// file first (unless it is already saved, small, or does not fit the disk budget).</item>
/// <item>When the request's conversation has a saved state that reuses clearly more of its prompt than the slot holds
/// (at least <c>MinTokens</c> more), it is restored into the slot, so the conversation resumes warm.</item>
/// </list>
/// Nothing here fails the request: a failed save loses what eviction would have lost anyway, a failed restore means
/// a cold prefill. A server that cannot save slots turns the feature off for itself with one warning.
/// </summary>
internal sealed class SlotHandover(
    SavedStateCatalog catalog,
    SlotStateClient client,
    SlotRouter router,
    UpstreamCallPipelines pipelines,
    TimeProvider time,
    ILogger<SlotHandover> logger)
{
    /// <summary>Saves and restores as needed; returns when the request may be forwarded (early if <paramref name="cancellationToken"/> fires). Never throws.</summary>
    public async Task PrepareAsync(GatewayRequestContext request, CancellationToken cancellationToken)
    {
        if (request.Lease is not { Slot: { } slot } lease || catalog.For(lease.Instance) is not { IsSupported: true } index)
        {
            return;
        }

        // The instance's own calls keep failing (its circuit is open): don't make the request wait on them too.
        if (pipelines.CircuitState(lease.Instance) == CircuitState.Open)
        {
            return;
        }

        var options = lease.Instance.Options.SlotSave;
        var fingerprint = request.Fingerprint;
        var held = lease.Held;

        // An isolated request (Gateway:Isolation PerUser) reuses nothing the slot holds; it restores only its own states.
        var heldReusable = held is null || lease.Isolated ? 0 : Math.Min(SlotChooser.ReusableTokens(held, fingerprint, lease.TokensPerChar, lease.Scope), held.CachedTokens);
        var restore = request.Kind == RequestKind.Conversation && fingerprint is not null
            ? index.ReserveRestore(fingerprint, lease.TokensPerChar, heldReusable + options.MinTokens, lease.Scope)
            : null;
        try
        {
            if (held is { ConversationId: { } holder } && holder != request.Conversation?.Id)
            {
                // llama-server keeps the prefix the new prompt shares and drops the rest; a restore replaces it all.
                var lost = restore is not null ? held.CachedTokens : held.CachedTokens - heldReusable;
                if (lost >= options.MinTokens && !await SaveAsync(request, index, lease, slot, held, options, cancellationToken))
                {
                    return;
                }
            }

            if (restore is not null)
            {
                var chosen = restore;
                restore = null;

                // With ForwardDuringRestore the request goes once the restore call is on the wire: llama-server queues
                // the request's task only after tokenizing its prompt, so both run in the same pause between batches,
                // restore first. Without it, once the restore is answered. An isolated request waits for the answer:
                // only a restore known to be done lets it reuse the slot, since the slot still holds another's tokens.
                var sent = options.ForwardDuringRestore && !lease.Isolated ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : null;
                var restoring = RestoreAsync(request, index, lease, slot, chosen, options, sent, cancellationToken);
                var started = time.GetTimestamp();
                try
                {
                    await (sent is null ? restoring : Task.WhenAny(sent.Task, restoring));
                }
                finally
                {
                    request.SlotActionTime += time.GetElapsedTime(started);
                }

                if (restoring.IsCompleted)
                {
                    await restoring;
                }
                else
                {
                    request.PendingSlotAction = FinishInBackgroundAsync(restoring, lease, slot);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client left (or the drain ended): the pipeline notices and stops.
        }
        finally
        {
            if (restore is not null)
            {
                index.AbandonRestore(restore.File, unusable: false, failed: false);
            }
        }
    }

    /// <summary>One call to llama-server's slot endpoint, its wall time added to the request's (the log line shows it).</summary>
    private async Task<SlotActionResult> TimedAsync(GatewayRequestContext request, Func<Task<SlotActionResult>> call)
    {
        var started = time.GetTimestamp();
        try
        {
            return await call();
        }
        finally
        {
            request.SlotActionTime += time.GetElapsedTime(started);
        }
    }

    /// <summary>Saves <paramref name="held"/>; false when the server cannot save slots at all.</summary>
    private async Task<bool> SaveAsync(GatewayRequestContext request, SavedStateIndex index, RoutingLease lease, int slot, SlotContent held, SlotSaveOptions options, CancellationToken cancellationToken)
    {
        var instance = lease.Instance;
        var conversation = held.ConversationId ?? "-";
        var reservation = index.ReserveSave(held, options, time.GetTimestamp(), lease.Scope.PerUser);
        if (reservation.File is not { } file)
        {
            SlotPersistenceLog.SaveSkipped(logger, slot, instance.Name, conversation, held.CachedTokens, reservation.SkipReason ?? "-");
            return true;
        }

        SlotActionResult result;
        try
        {
            result = await TimedAsync(request, () => client.SaveAsync(instance, slot, file.FileName, Timeout(options), cancellationToken));
        }
        catch (OperationCanceledException)
        {
            index.AbandonSave(file, reservation.EstimatedBytes, mayHaveWritten: true, failed: false);
            throw;
        }

        switch (result.Outcome)
        {
            case SlotActionOutcome.Done:
                index.CompleteSave(file, held, result.Tokens, result.Bytes, time.GetTimestamp());
                lease.AddStep("saved");
                SlotPersistenceLog.Saved(logger, slot, instance.Name, result.Tokens, conversation, file.FileName, result.Bytes, result.Milliseconds);
                return true;
            case SlotActionOutcome.Unsupported:
                index.AbandonSave(file, reservation.EstimatedBytes, mayHaveWritten: false, failed: false);
                TurnOff(index, lease, result.Detail);
                return false;
            default:
                index.AbandonSave(file, reservation.EstimatedBytes, mayHaveWritten: true, failed: true);
                lease.AddStep("save-failed");
                SlotPersistenceLog.SaveFailed(logger, slot, instance.Name, conversation, file.FileName, result.Outcome, result.Detail);
                return true;
        }
    }

    /// <summary>
    /// Restores <paramref name="restore"/> into the slot and records what the slot then holds. Runs on while the
    /// request is forwarded when <paramref name="sent"/> is given, so it touches the lease and the shared index only.
    /// </summary>
    private async Task RestoreAsync(GatewayRequestContext request, SavedStateIndex index, RoutingLease lease, int slot, RestoreReservation restore, SlotSaveOptions options, TaskCompletionSource? sent, CancellationToken cancellationToken)
    {
        var instance = lease.Instance;
        var file = restore.File;
        SlotActionResult result;
        try
        {
            result = await client.RestoreAsync(instance, slot, file.FileName, Timeout(options), cancellationToken, sent);
        }
        catch (OperationCanceledException)
        {
            // Whether llama-server got as far as replacing the slot is unknown.
            index.AbandonRestore(file, unusable: false, failed: false);
            router.SlotNowHolds(lease, null);
            throw;
        }

        switch (result.Outcome)
        {
            case SlotActionOutcome.Done:
                index.CompleteRestore(file, result.Tokens, result.Bytes, result.Milliseconds, time.GetTimestamp());
                var restored = result.Tokens > 0 ? restore.Content with { CachedTokens = result.Tokens } : restore.Content;
                router.SlotNowHolds(lease, restored);
                if (sent is null && !SlotChooser.MustIsolate(restored, request.Fingerprint, lease.TokensPerChar, lease.Scope))
                {
                    // Its own state, and enough of it kept that llama-server will not look in its RAM cache.
                    lease.OwnTokensInSlot();
                }

                lease.AddStep("restored");
                SlotPersistenceLog.Restored(logger, file.FileName, result.Tokens, restore.Content.ConversationId ?? "-", slot, instance.Name, result.Bytes, result.Milliseconds);
                break;
            case SlotActionOutcome.Unsupported:
                index.AbandonRestore(file, unusable: false, failed: false);
                TurnOff(index, lease, result.Detail);
                break;
            default:
                // A refused file (llama-server clears the slot then) is not offered again; a timeout may just be load.
                index.AbandonRestore(file, unusable: result.Outcome == SlotActionOutcome.Rejected, failed: true);
                router.SlotNowHolds(lease, null);
                lease.AddStep("restore-failed");
                SlotPersistenceLog.RestoreFailed(logger, file.FileName, slot, instance.Name, result.Outcome, result.Detail);
                break;
        }
    }

    /// <summary>The forwarded request's wait for its restore's answer: never throws, since it runs as the request ends.</summary>
    private async Task FinishInBackgroundAsync(Task restoring, RoutingLease lease, int slot)
    {
        try
        {
            await restoring;
        }
        catch (OperationCanceledException)
        {
            // The client left: RestoreAsync has already forgotten what the slot holds.
        }
        catch (Exception ex)
        {
            ReliabilityLog.UnhandledFailure(logger, "POST", $"/slots/{slot}?action=restore ({lease.Instance.Name})", ex);
            router.SlotNowHolds(lease, null);
        }
    }

    private void TurnOff(SavedStateIndex index, RoutingLease lease, string detail)
    {
        if (index.MarkUnsupported(detail))
        {
            SlotPersistenceLog.Unsupported(logger, lease.Instance.Name, detail);
        }
    }

    private static TimeSpan Timeout(SlotSaveOptions options) => TimeSpan.FromSeconds(Math.Clamp(options.TimeoutSeconds, 0.1, 3600));
}
