using System.Runtime.CompilerServices;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Routing;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Options;

namespace LlamaGateway.PrefillChunking;

/// <summary>
/// The step between the slot save/restore and forwarding, for a long prompt on a pinned slot
/// (<c>Gateway:Routing:PrefillChunkSeconds</c>): llama-server fills each batch with prompt tokens slot by slot in index
/// order, so a short prompt (another user's follow-up turn, a title request) on a higher slot than a new
/// conversation's 12,000-token prompt gets no batch room until all of it is processed, seconds to minutes. Here the
/// long prompt goes to llama-server a chunk at a time instead: rendered once by llama-server's own chat template
/// (<c>/apply-template</c>) and tokenized once (<c>/tokenize</c>), then prefixes of its tokens, each about
/// <c>PrefillChunkSeconds</c> of prefill longer than the last, go to the request's slot with <c>n_predict: 0</c>
/// (<c>/completion</c>; as token ids, llama-server does not tokenize each prefix again, which cost 1 s of a cold
/// 11,656-token prompt's 12.3 s in 23 chunks), and before each one the request waits while
/// shorter prompts on the instance's other slots are processed. The request itself then finds all but the last chunk
/// in the slot's cache. A short prompt waits for at most one chunk, and no work is thrown away (unlike pausing).
/// <para>
/// Nothing here fails the request: any failed call ends the chunking and the request goes as it would have. An
/// instance that answers as llama-server does not (no such endpoints, or a chunk that does not extend the one
/// before) has chunking turned off until the gateway restarts, with one warning.
/// </para>
/// </summary>
internal sealed class PrefillChunker(SlotRouter router, PrefillChunkClient client, IOptionsMonitor<GatewayOptions> options, ILogger<PrefillChunker> logger)
{
    /// <summary>
    /// Tokens a chunk (or the request) may find missing of the ones the chunk before it left in the slot: the chunks are
    /// exact prefixes of the prompt's tokens, but llama-server evaluates at least one token of every prompt again.
    /// </summary>
    public const int MissingTolerance = 16;

    private readonly ConditionalWeakTable<UpstreamInstance, string> _off = new();

    /// <summary>Prefills the request's prompt in chunks when it is long; returns when the request may be forwarded. Never throws but for <paramref name="cancellationToken"/>.</summary>
    public async Task PrefillAsync(GatewayRequestContext request, CancellationToken cancellationToken)
    {
        // A restore still unanswered changes what the slot holds (and holds the conversation's own state): no chunks.
        if (request.Lease is not { Slot: { } slot } lease || request.PendingSlotAction is not null || !SendsChat(request)
            || _off.TryGetValue(lease.Instance, out _) || router.PlanPrefillChunks(lease, request.Fingerprint) is not { } plan)
        {
            return;
        }

        var instance = lease.Instance;
        var timeout = TimeSpan.FromSeconds(Math.Max(1, options.CurrentValue.Timeouts.FirstByteSeconds));
        var (outcome, rendered, detail) = await client.RenderAsync(instance, request.UpstreamBody, timeout, cancellationToken);
        if (rendered is null)
        {
            Stop(instance, slot, 0, outcome, detail);
            return;
        }

        PromptTokens? tokens;
        using (rendered)
        {
            (outcome, tokens, detail) = await client.TokenizeAsync(instance, rendered, timeout, cancellationToken);
        }

        if (tokens is null)
        {
            Stop(instance, slot, 0, outcome, detail);
            return;
        }

        using (tokens)
        {
            await SendChunksAsync(request, lease, slot, plan, tokens.Tokens, timeout, cancellationToken);
        }
    }

    /// <summary>
    /// After the request: its own usage (which the upstream reports with the chunks' tokens as cached) has already been
    /// read as if they were re-computed (<see cref="Usage.UpstreamUsage.ChunkedTokens"/>). Here it is checked that the
    /// request found the chunks in the slot: if not, the prompt was computed twice, and chunking stops for the instance.
    /// </summary>
    public void Settle(GatewayRequestContext request)
    {
        if (request.ChunkedPrefill is not { Chunks: > 0 } chunked || request.Lease is not { } lease)
        {
            return;
        }

        lease.Instance.CountPrefillChunks(chunked.Chunks, chunked.Yielded);
        var found = request.Usage.ReportedCachedTokens;
        if (request.UpstreamStatus == StatusCodes.Status200OK && found >= 0)
        {
            if (found < chunked.PrefilledTokens - MissingTolerance)
            {
                TurnOff(lease.Instance, $"a request found {found} of the {chunked.PrefilledTokens} tokens its chunks had prefilled in slot {lease.Slot}, so its prompt was computed twice (does /apply-template render what /v1/chat/completions does?)");
            }
        }
    }

    private async Task SendChunksAsync(GatewayRequestContext request, RoutingLease lease, int slot, PrefillChunkPlan plan, ReadOnlyMemory<int> prompt, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var instance = lease.Instance;
        var chunkTokens = Math.Max(1, (int)plan.ChunkTokens);
        var cut = 0;
        var cachedFrom = (int)Math.Min(plan.ReusableTokens, prompt.Length);
        var prefilled = -1;
        var chunks = 0;
        var computed = 0;
        var milliseconds = 0.0;
        var yielded = TimeSpan.Zero;

        // It gives way for at most as long as its own expected prefill in all, so shorter prompts can at most double
        // its wait, never starve it.
        var yieldBudget = TimeSpan.FromSeconds(plan.ExpectedTokens / Math.Max(plan.TokensPerSecond, 1));
        try
        {
            while (true)
            {
                var next = Math.Max(cut, cachedFrom) + chunkTokens;

                // Less than half a chunk left after this one: it goes with the request itself.
                if (next + (chunkTokens / 2) >= prompt.Length)
                {
                    break;
                }

                if (yielded < yieldBudget)
                {
                    yielded += await router.WaitForShorterPrefillsAsync(lease, yieldBudget - yielded, cancellationToken);
                }

                // An isolated request (Gateway:Isolation PerUser) reuses nothing the slot held: its first chunk is
                // computed whole, and from then on the slot holds its own tokens.
                var result = await client.PrefillAsync(instance, slot, prompt[..next], timeout, cancellationToken, cachePrompt: !lease.Isolated);
                if (result.Outcome != PrefillCallOutcome.Done)
                {
                    Stop(instance, slot, chunks, result.Outcome, result.Detail);
                    break;
                }

                if (chunks == 0)
                {
                    router.ChunkPrefilled(lease);
                    lease.OwnTokensInSlot();
                }

                if (prefilled >= 0 && result.CachedTokens < prefilled - MissingTolerance)
                {
                    TurnOff(instance, $"a chunk of {result.PromptTokens} tokens found {result.CachedTokens} in slot {slot}, where the chunk before it had left {prefilled}");
                    break;
                }

                chunks++;
                computed += result.ComputedTokens;
                milliseconds += result.Milliseconds;
                prefilled = result.PromptTokens;
                cut = next;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client left: the pipeline notices and stops. What was prefilled stays in the slot.
        }

        if (chunks > 0)
        {
            request.ChunkedPrefill = new ChunkedPrefill(chunks, computed, milliseconds, prefilled, yielded);
            PrefillChunkingLog.Prefilled(logger, computed, slot, instance.Name, chunks, milliseconds, yielded.TotalMilliseconds);
        }
    }

    /// <summary>Only a chat-completions body can be rendered by the server's chat template.</summary>
    private static bool SendsChat(GatewayRequestContext request) =>
        request.Lease!.Instance.Dialect == ApiDialect.OpenAi && request.UpstreamPath == ApiRoute.ChatCompletions.Path() && !request.UpstreamBody.IsEmpty;

    private void Stop(UpstreamInstance instance, int slot, int chunks, PrefillCallOutcome outcome, string detail)
    {
        if (outcome == PrefillCallOutcome.Unsupported)
        {
            TurnOff(instance, $"it does not serve what chunking needs ({detail}); llama-server has /apply-template and /completion");
            return;
        }

        PrefillChunkingLog.Stopped(logger, slot, instance.Name, chunks, $"{outcome}: {detail}");
    }

    private void TurnOff(UpstreamInstance instance, string reason)
    {
        if (_off.TryAdd(instance, reason))
        {
            PrefillChunkingLog.TurnedOff(logger, instance.Name, reason);
        }
    }
}
