using LlamaGateway.Conversations;
using LlamaGateway.Errors;
using LlamaGateway.Normalization;
using LlamaGateway.Routing;
using LlamaGateway.Usage;

namespace LlamaGateway.Pipeline;

/// <summary>
/// Everything the stages of one model request share, set as a feature on the <see cref="HttpContext"/>:
/// read + normalize -> identify -> route -> translate -> forward -> account. Each stage fills its part.
/// </summary>
internal sealed class GatewayRequestContext : IDisposable
{
    public GatewayRequestContext(ApiRoute route, long startTimestamp)
    {
        Route = route;
        StartTimestamp = startTimestamp;
    }

    public ApiRoute Route { get; }

    /// <summary>The dialect errors and responses must be written in.</summary>
    public ApiDialect ClientDialect => Route.ClientDialect();

    public long StartTimestamp { get; }

    /// <summary>The configured user the caller authenticated as, or null when the gateway is open.</summary>
    public string? User { get; set; }

    /// <summary>
    /// Who the request counts as for slot caps and cache ownership: the configured user, else the Claude Code
    /// installation (device id), else the session.
    /// </summary>
    public string? ClientIdentity => User ?? Fingerprint?.ClientId ?? SessionId;

    /// <summary>Claude Code's <c>X-Claude-Code-Session-Id</c>, when sent.</summary>
    public string? SessionId { get; set; }

    public long RequestBytes { get; set; }

    /// <summary>The normalized client body (stage 1).</summary>
    public PooledBuffer? Body { get; set; }

    /// <summary>
    /// The token tape of <see cref="Body"/> (stage 1), built once: the shape check, the fingerprint and the translator
    /// read it instead of scanning the body again.
    /// </summary>
    public JsonTape? BodyTape { get; set; }

    public NormalizationOutcome Normalization { get; set; }

    /// <summary>Canonical identity of the prompt (stage 2); null when the body is not a prompt we understand.</summary>
    public ConversationFingerprint? Fingerprint { get; set; }

    /// <summary>The conversation this request continues or starts (stage 2); null for side requests.</summary>
    public ConversationRecord? Conversation { get; set; }

    /// <summary>How the router treats the request (stage 3).</summary>
    public RequestKind Kind { get; set; }

    /// <summary>The chosen (instance, slot) and the lease that holds it (stage 3).</summary>
    public RoutingLease? Lease { get; set; }

    private PooledBuffer? _upstreamBody;
    private bool _upstreamIsBody;
    private PrefillChunking.ChunkedPrefill? _chunkedPrefill;

    /// <summary>
    /// The body sent upstream (stage 4): translated or patched from <see cref="Body"/>, or <see cref="Body"/> itself
    /// when it goes as normalized (an anthropic-dialect upstream, count_tokens); empty until built.
    /// </summary>
    public ReadOnlyMemory<byte> UpstreamBody => _upstreamBody is { } built ? built.WrittenMemory : _upstreamIsBody ? Body!.WrittenMemory : default;

    /// <summary>Takes <paramref name="built"/> as the upstream body; the request disposes it.</summary>
    public void SetUpstreamBody(PooledBuffer built)
    {
        ReleaseUpstreamBody();
        _upstreamBody = built;
    }

    /// <summary>Sends the normalized body upstream as it is, without a copy.</summary>
    public void SendBodyUpstream()
    {
        ReleaseUpstreamBody();
        _upstreamIsBody = true;
    }

    /// <summary>Drops the upstream body (before building it again for another instance); the normalized body stays.</summary>
    public void ReleaseUpstreamBody()
    {
        _upstreamBody?.Dispose();
        _upstreamBody = null;
        _upstreamIsBody = false;
    }

    /// <summary>Path on the upstream, e.g. <c>/v1/chat/completions</c>.</summary>
    public string UpstreamPath { get; set; } = "/";

    /// <summary>Whether the response must be translated from OpenAI chat back to Anthropic messages.</summary>
    public bool TranslateResponse { get; set; }

    /// <summary>Whether the client asked for a streamed response.</summary>
    public bool Stream { get; set; }

    /// <summary>The model name the client asked for, echoed in translated responses.</summary>
    public string Model { get; set; } = string.Empty;

    /// <summary>What the upstream reported about token use (stage 5), read by accounting (stage 6).</summary>
    public UpstreamUsage Usage { get; } = new();

    /// <summary>Time spent in the router's queue waiting for a slot (all attempts).</summary>
    public TimeSpan QueueTime { get; set; }

    /// <summary>Why the request waited in the router's queue, each reason once in the order seen (e.g. "all-busy>wait-own-slot"); null if it never waited.</summary>
    public string? WaitReasons { get; private set; }

    public void NoteWaitReason(string reason)
    {
        if (WaitReasons is null)
        {
            WaitReasons = reason;
        }
        else if (!WaitReasons.Contains(reason, StringComparison.Ordinal))
        {
            WaitReasons = WaitReasons + ">" + reason;
        }
    }

    /// <summary>
    /// What the prefill chunker did before the request was forwarded (<c>PrefillChunking</c>); null when the prompt went
    /// in one piece. Setting it sets the chunks' tokens and time in <see cref="Usage"/>, which reads the upstream's
    /// report with them, so the two never disagree (a failover clears both).
    /// </summary>
    public PrefillChunking.ChunkedPrefill? ChunkedPrefill
    {
        get => _chunkedPrefill;
        set
        {
            _chunkedPrefill = value;
            Usage.ChunkedTokens = value?.ComputedTokens ?? 0;
            Usage.ChunkedMilliseconds = value?.Milliseconds ?? 0;
        }
    }

    /// <summary>How long the request waited for one of its user's places (<c>Gateway:Limits</c>) before the pipeline; null if it did not.</summary>
    public TimeSpan? UserCapWait { get; set; }

    /// <summary>How long the request waited for a free connection of its upstream pool (all attempts); null if it never did.</summary>
    public TimeSpan? ConnectionWait { get; set; }

    /// <summary>Time spent in llama-server's slot save and restore calls (the evicted state, the conversation's own) before forwarding.</summary>
    public TimeSpan SlotActionTime { get; set; }

    /// <summary>
    /// A restore still unanswered when the request was forwarded (<c>SlotSave:ForwardDuringRestore</c>). It settles what
    /// the slot holds, so it must finish before the lease is released: <see cref="SettleSlotActionAsync"/>.
    /// </summary>
    public Task? PendingSlotAction { get; set; }

    /// <summary>Waits for <see cref="PendingSlotAction"/>, if any; never throws (the handover's task handles its own failures).</summary>
    public async ValueTask SettleSlotActionAsync()
    {
        if (PendingSlotAction is { } pending)
        {
            PendingSlotAction = null;
            await pending;
        }
    }

    public int UpstreamStatus { get; set; }

    public long ResponseBytes { get; set; }

    /// <summary>Set when the request failed; the first failure wins.</summary>
    public ApiErrorKind? FailureKind { get; private set; }

    public string? FailureMessage { get; private set; }

    /// <summary>
    /// Whether the upstream request must go on a new connection that is closed after it: set for the one retry after
    /// an upstream closed a (pooled) connection without answering.
    /// </summary>
    public bool FreshConnection { get; set; }

    /// <summary>
    /// Set by the attempt's call when the upstream closed the connection before answering and the request will be
    /// sent again (<c>Forwarding.ClosedConnectionInvoker</c>); the relay then drops the attempt's stand-in answer.
    /// </summary>
    public Exception? UpstreamClosedEarly { get; set; }

    /// <summary>Whether any response byte has been produced by the upstream (so a retry would replay generation).</summary>
    public bool UpstreamResponded { get; set; }

    /// <summary>Records the failure (bounded: it is logged and listed, and may quote client or upstream text).</summary>
    public void Fail(ApiErrorKind kind, string message)
    {
        if (FailureKind is null)
        {
            FailureKind = kind;
            FailureMessage = BoundedText.Truncate(message, BoundedText.MaxMessageChars);
        }
    }

    public void Dispose()
    {
        Lease?.Dispose();
        BodyTape?.Dispose();
        ReleaseUpstreamBody();
        Body?.Dispose();
    }
}
