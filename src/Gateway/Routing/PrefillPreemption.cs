namespace LlamaGateway.Routing;

/// <summary>
/// A long prefill that shorter prompts placed above it may pause. llama-server fills each batch slot by slot in index
/// order, so while a new conversation's 15,000-token prompt is processed on a low slot, a follow-up turn's few hundred
/// tokens on a higher slot get no room in any batch until it is done (seconds to minutes). Cancelling the long
/// request's upstream call stops it at llama-server's next batch and keeps what it processed in its slot
/// (llama-server adds each prompt token to the slot's cache as it batches it; checked on this bench's llama-server:
/// a 12,853-token prompt cut off after 3,584 tokens was resent with <c>cache_n = 3584</c>), so once the shorter
/// prompts are processed the same request is sent again and continues where it stopped.
/// Only before the request's first output, while nothing has reached the client: after that a resend would replay
/// output the client has seen. Each request is paused for at most as long as its own expected prefill,
/// so a stream of short requests can at most double a long one's wait, never starve it.
/// </summary>
internal sealed class PrefillPreemption
{
    /// <summary>
    /// Least expected prefill left for a pause to be worth it: llama-server notices a closed connection only when its
    /// HTTP thread polls, once a second, so a prompt about to finish would finish first and then be thrown away.
    /// </summary>
    public const double MinRemainingSeconds = 2;

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly double _budgetSeconds;
    private CancellationTokenSource? _attempt;
    private TaskCompletionSource? _resume;
    private bool _attemptPaused;
    private bool _committed;
    private int _holders;
    private long _pausedSince;
    private TimeSpan _pausedTime;
    private int _pauses;

    /// <param name="budgetSeconds">Longest the request may be paused in all: its own expected prefill.</param>
    public PrefillPreemption(TimeProvider time, double budgetSeconds)
    {
        _time = time;
        _budgetSeconds = budgetSeconds;
    }

    /// <summary>Whether a prompt expected to take <paramref name="workSeconds"/> should pause one with <paramref name="remainingSeconds"/> of prefill left.</summary>
    public static bool Worthwhile(double remainingSeconds, double workSeconds) =>
        remainingSeconds > Math.Max(2 * workSeconds, MinRemainingSeconds);

    /// <summary>How many times the request was paused.</summary>
    public int Pauses
    {
        get
        {
            lock (_gate)
            {
                return _pauses;
            }
        }
    }

    /// <summary>Time the request spent paused so far.</summary>
    public TimeSpan PausedTime
    {
        get
        {
            lock (_gate)
            {
                return PausedSoFar(_time.GetTimestamp());
            }
        }
    }

    /// <summary>
    /// The running attempt's token, cancelled only when the attempt is paused (so a cancelled token always means a
    /// pause, never the client leaving or the drain ending); none between attempts.
    /// </summary>
    public CancellationToken AttemptToken
    {
        get
        {
            lock (_gate)
            {
                return _attempt?.Token ?? CancellationToken.None;
            }
        }
    }

    /// <summary>
    /// Waits while the request is paused (until <paramref name="outer"/> fires), then starts an upstream attempt: the
    /// returned token is cancelled if a shorter prompt pauses the attempt.
    /// </summary>
    public async ValueTask<CancellationToken> NextAttemptAsync(CancellationToken outer)
    {
        while (true)
        {
            Task resumed;
            lock (_gate)
            {
                if (_holders == 0)
                {
                    _attempt = new CancellationTokenSource();
                    _attemptPaused = false;
                    return _attempt.Token;
                }

                resumed = _resume!.Task;
            }

            await resumed.WaitAsync(outer);
        }
    }

    /// <summary>Ends the attempt; true when it was cancelled by a pause, so it must be sent again.</summary>
    public bool EndAttempt()
    {
        lock (_gate)
        {
            var paused = _attemptPaused;
            if (!paused)
            {
                // A paused attempt's token is left to the collector: its cancellation callbacks may still be running.
                _attempt?.Dispose();
            }

            _attempt = null;
            _attemptPaused = false;
            return paused;
        }
    }

    /// <summary>
    /// The upstream's first output is about to reach the client: from here the request can no longer be paused.
    /// False when a pause came first (the output is dropped and the request sent again).
    /// </summary>
    public bool TryCommit()
    {
        lock (_gate)
        {
            if (_attemptPaused || _holders > 0)
            {
                return false;
            }

            _committed = true;
            return true;
        }
    }

    /// <summary>
    /// A shorter prompt placed above holds this one up until it calls <see cref="Release"/>: the running attempt is
    /// cancelled (the first holder's), or the next one waits. False when the request already has output or used its
    /// pause budget.
    /// </summary>
    public bool TryHoldUp()
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if (_committed || PausedSoFar(now).TotalSeconds >= _budgetSeconds)
            {
                return false;
            }

            if (_holders++ == 0)
            {
                _pausedSince = now;
                _pauses++;
                _resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                if (_attempt is { IsCancellationRequested: false } attempt)
                {
                    _attemptPaused = true;

                    // Callbacks run on the thread pool: the caller holds the router's lock, and the cancelled HTTP call
                    // tears down its connection.
                    _ = attempt.CancelAsync();
                }
            }

            return true;
        }
    }

    /// <summary>A holder's prompt is processed (or it ended): the last one lets the request go on.</summary>
    public void Release()
    {
        lock (_gate)
        {
            if (_holders == 0)
            {
                return;
            }

            if (--_holders == 0)
            {
                _pausedTime += _time.GetElapsedTime(_pausedSince);
                _resume!.TrySetResult();
            }
        }
    }

    private TimeSpan PausedSoFar(long now) => _holders > 0 ? _pausedTime + _time.GetElapsedTime(_pausedSince, now) : _pausedTime;
}
