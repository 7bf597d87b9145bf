namespace LlamaGateway.Forwarding;

/// <summary>
/// The places of one connection pool: at most a limit of upstream calls at once, the rest waiting in arrival order.
/// Unlike a semaphore the limit is read at each entry and exit, so a pool follows an instance's discovered slot count.
/// </summary>
internal sealed class ConnectionPlaces
{
    private readonly Lock _gate = new();
    private readonly LinkedList<TaskCompletionSource> _waiting = new();
    private int _inUse;

    /// <summary>Calls holding a place now.</summary>
    public int InUse
    {
        get
        {
            lock (_gate)
            {
                return _inUse;
            }
        }
    }

    /// <summary>Takes a place if one is free and nobody is waiting for one.</summary>
    public bool TryEnter(int limit)
    {
        lock (_gate)
        {
            if (_inUse >= limit || _waiting.Count > 0)
            {
                return false;
            }

            _inUse++;
            return true;
        }
    }

    /// <summary>Waits for a place, behind every earlier waiter.</summary>
    public async ValueTask EnterAsync(int limit, CancellationToken cancellationToken)
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        LinkedListNode<TaskCompletionSource> node;
        lock (_gate)
        {
            if (_inUse < limit && _waiting.Count == 0)
            {
                _inUse++;
                return;
            }

            node = _waiting.AddLast(waiter);
        }

        // A place is handed over under the lock only, so a cancelled waiter is never also given one.
        await using var registration = cancellationToken.Register(() =>
        {
            lock (_gate)
            {
                if (node.List is not null)
                {
                    _waiting.Remove(node);
                    waiter.TrySetCanceled(cancellationToken);
                }
            }
        });
        await waiter.Task;
    }

    /// <summary>Frees a place and hands free places to the longest waiters.</summary>
    public void Exit(int limit)
    {
        lock (_gate)
        {
            _inUse--;
            while (_waiting.First is { } next && _inUse < limit)
            {
                _waiting.RemoveFirst();
                _inUse++;
                next.Value.SetResult();
            }
        }
    }
}
