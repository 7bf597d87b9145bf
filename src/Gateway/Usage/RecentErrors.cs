using LlamaGateway.Errors;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Usage;

/// <summary>
/// A bounded ring of the most recent failed requests, for the dashboard. Client cancellations (Claude Code's Esc)
/// are only counted: they are routine, and listing them would push real failures out of the ring.
/// </summary>
internal sealed class RecentErrors(TimeProvider time)
{
    public const int Capacity = 50;

    private readonly object _gate = new();
    private readonly Queue<RecentError> _ring = new(Capacity);
    private long _cancelled;
    private long _total;

    /// <summary>Requests the client abandoned (disconnected) before they finished.</summary>
    public long Cancelled => Interlocked.Read(ref _cancelled);

    /// <summary>Failures recorded since start-up, including those that have left the ring.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>Records a finished pipeline request if it failed.</summary>
    public void Record(GatewayRequestContext request)
    {
        if (request.FailureKind is not { } kind)
        {
            return;
        }

        var message = request.FailureMessage ?? kind.ToString();
        if (kind == ApiErrorKind.Internal && message.StartsWith("client disconnected", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _cancelled);
            return;
        }

        // An upstream failure passed through keeps the upstream's status; otherwise (the gateway's own errors, an upstream
        // error classified as the request's) the status the gateway answered with applies.
        var status = request.UpstreamStatus >= 400 && kind == ApiErrorKind.UpstreamError ? request.UpstreamStatus : ApiErrorWriter.StatusCode(kind);
        Add(request.Route.Path(), status, kind.ToString(), message, request.User ?? UsageLedger.AnonymousUser, request.Lease?.Instance.Name);
    }

    public void Add(string route, int status, string kind, string message, string user, string? upstream)
    {
        // Bounded here too: every entry is kept and served to the dashboard, whoever built the message.
        var error = new RecentError(time.GetUtcNow(), route, status, kind, BoundedText.Truncate(message, BoundedText.MaxMessageChars), user, upstream);
        Interlocked.Increment(ref _total);
        lock (_gate)
        {
            if (_ring.Count == Capacity)
            {
                _ring.Dequeue();
            }

            _ring.Enqueue(error);
        }
    }

    /// <summary>The ring, newest first.</summary>
    public IReadOnlyList<RecentError> Snapshot()
    {
        lock (_gate)
        {
            var list = _ring.ToList();
            list.Reverse();
            return list;
        }
    }
}
