namespace LlamaGateway.Forwarding;

/// <summary>
/// A place in one of an instance's connection pools (<see cref="UpstreamHttpClient.AcquireAsync"/>), held while one
/// upstream call is in flight; disposing it frees the place for the next request.
/// </summary>
internal sealed class UpstreamConnection(HttpMessageInvoker invoker, ConnectionPlaces places, Func<int> limit, TimeSpan? waited) : IDisposable
{
    private int _released;

    /// <summary>The pool's client; it opens a connection only when no idle one is left, so never more than the places.</summary>
    public HttpMessageInvoker Invoker { get; } = invoker;

    /// <summary>How long the request waited for the place; null when one was free at once.</summary>
    public TimeSpan? Waited { get; } = waited;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            places.Exit(limit());
        }
    }
}
