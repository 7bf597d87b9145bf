using LlamaGateway.Conversations;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Routing;

/// <summary>A request waiting in the router's queue (or being placed right away). Guarded by the router's lock.</summary>
internal sealed class SlotWaiter(GatewayRequestContext request, RequestKind kind, ConversationRecord? conversation, string? fairnessKey, long enqueued, ReuseScope scope = default)
{
    private readonly TaskCompletionSource<RoutingLease?> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public GatewayRequestContext Request { get; } = request;

    public RequestKind Kind { get; } = kind;

    public ConversationRecord? Conversation { get; } = conversation;

    /// <summary>Whose slot budget this request counts against (the user, else the Claude Code session).</summary>
    public string? FairnessKey { get; } = fairnessKey;

    /// <summary>Whose cached tokens the request may reuse (<c>Gateway:Isolation</c>).</summary>
    public ReuseScope Scope { get; } = scope;

    public long Enqueued { get; } = enqueued;

    /// <summary>While set, the request waits for this busy slot (its own cache) rather than re-pinning elsewhere.</summary>
    public SlotState? WaitingFor { get; set; }

    /// <summary>When waiting for <see cref="WaitingFor"/> stops being worth it (TimeProvider timestamp).</summary>
    public long PreferenceDeadline { get; set; }

    /// <summary>Set once the wait for its own slot ran out: any idle slot will do now.</summary>
    public bool PreferenceExpired { get; set; }

    public Task<RoutingLease?> Task => _completion.Task;

    public bool IsDone => _completion.Task.IsCompleted;

    public void Complete(RoutingLease? lease) => _completion.TrySetResult(lease);
}
