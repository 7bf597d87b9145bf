using LlamaGateway.Pipeline;

namespace LlamaGateway.Upstreams;

/// <summary>
/// Runtime state of one configured upstream: its address, how many slots it has, and whether it is healthy.
/// Shared by all requests; state changes are single-field writes or interlocked, so readers never see a torn object.
/// </summary>
internal sealed class UpstreamInstance
{
    private volatile int _slotCount;
    private volatile string? _lastError;
    private volatile string? _publicError;
    private int _healthy = 1;
    private int _consecutiveFailures;
    private int _generation;
    private long _failoversIn;
    private long _failoversOut;
    private long _prefillPauses;
    private long _prefillPausedTicks;
    private long _chunkedPrefills;
    private long _prefillChunks;
    private long _chunkYieldTicks;
    private long _outages;
    private int _inFlight;
    private long _lastAnswered;

    public UpstreamInstance(UpstreamOptions options)
    {
        Options = options;
        Name = options.Name;
        BaseUri = new Uri(options.BaseUrl.TrimEnd('/') + "/");
        Dialect = options.ParsedDialect;
        _slotCount = options.Slots ?? 1;
        SlotsDiscovered = options.Slots is not null;
    }

    public UpstreamOptions Options { get; }

    public string Name { get; }

    /// <summary>Base address with a trailing slash; YARP prepends it to the request path.</summary>
    public Uri BaseUri { get; }

    /// <summary><see cref="BaseUri"/> without the trailing slash, as YARP's destination prefix.</summary>
    public string DestinationPrefix => BaseUri.AbsoluteUri.TrimEnd('/');

    public ApiDialect Dialect { get; }

    public int SlotCount => _slotCount;

    /// <summary>Whether the slot count is known (configured, or read from <c>/props</c>).</summary>
    public bool SlotsDiscovered { get; private set; }

    public bool IsHealthy => Volatile.Read(ref _healthy) == 1;

    /// <summary>
    /// Why the instance last failed, as the admin sees it: may quote an upstream's answer to one user's request, so
    /// it is shown only to the admin (bounded; see <see cref="PublicError"/>).
    /// </summary>
    public string? LastError => _lastError;

    /// <summary>
    /// Why the instance last failed in the gateway's own words only (no upstream or client text), for everyone:
    /// error messages to users and their view of /status.json.
    /// </summary>
    public string? PublicError => _publicError;

    /// <summary>llama-server's model path or alias, from <c>/props</c>, for the dashboard.</summary>
    public string? ModelName { get; set; }

    /// <summary>Failed requests in a row (passive health); reset by any good answer.</summary>
    public int ConsecutiveFailures => Volatile.Read(ref _consecutiveFailures);

    /// <summary>
    /// Counts the instance's returns to health. A server that was down has lost its slots' KV caches, so the router
    /// forgets what it believed they held when this changes.
    /// </summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>Times the instance was taken out of routing.</summary>
    public long Outages => Interlocked.Read(ref _outages);

    /// <summary>Conversations moved here because the instance they were pinned to was down or gone.</summary>
    public long FailoversIn => Interlocked.Read(ref _failoversIn);

    /// <summary>Conversations that had to leave this instance because it was down.</summary>
    public long FailoversOut => Interlocked.Read(ref _failoversOut);

    /// <summary>Times a long prefill here was paused for a shorter prompt (Routing/PrefillPreemption).</summary>
    public long PrefillPauses => Interlocked.Read(ref _prefillPauses);

    /// <summary>Time long prefills here spent paused for shorter prompts, in all.</summary>
    public TimeSpan PrefillPausedTime => TimeSpan.FromTicks(Interlocked.Read(ref _prefillPausedTicks));

    /// <summary>Requests whose prompt was prefilled here in chunks (PrefillChunking/PrefillChunker), and their chunks.</summary>
    public long ChunkedPrefills => Interlocked.Read(ref _chunkedPrefills);

    public long PrefillChunks => Interlocked.Read(ref _prefillChunks);

    /// <summary>Time chunked prefills here gave way to shorter prompts between chunks, in all.</summary>
    public TimeSpan ChunkYieldTime => TimeSpan.FromTicks(Interlocked.Read(ref _chunkYieldTicks));

    public void SetSlotCount(int slots)
    {
        if (slots > 0)
        {
            _slotCount = slots;
            SlotsDiscovered = true;
        }
    }

    /// <summary>Puts the instance (back) into routing; true when it was out.</summary>
    public bool MarkHealthy()
    {
        Volatile.Write(ref _consecutiveFailures, 0);
        if (Interlocked.Exchange(ref _healthy, 1) == 1)
        {
            return false;
        }

        _lastError = null;
        _publicError = null;
        Interlocked.Increment(ref _generation);
        return true;
    }

    /// <summary>
    /// Takes the instance out of routing; true when it was in. <paramref name="publicReason"/> (default: the reason)
    /// must be the gateway's own words.
    /// </summary>
    public bool MarkUnhealthy(string reason, string? publicReason = null)
    {
        _lastError = Errors.BoundedText.Truncate(reason, Errors.BoundedText.MaxMessageChars);
        _publicError = publicReason is null ? _lastError : Errors.BoundedText.Truncate(publicReason, Errors.BoundedText.MaxMessageChars);
        if (Interlocked.Exchange(ref _healthy, 0) == 0)
        {
            return false;
        }

        Interlocked.Increment(ref _outages);
        return true;
    }

    /// <summary>A request got a proper answer (any status below 500, a complete stream).</summary>
    public void RecordSuccess() => Volatile.Write(ref _consecutiveFailures, 0);

    /// <summary>Requests sent to this instance and not yet finished.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>TimeProvider timestamp of the last response this instance started (0: none yet).</summary>
    public long LastAnswered => Interlocked.Read(ref _lastAnswered);

    public void RequestStarted() => Interlocked.Increment(ref _inFlight);

    public void RequestEnded() => Interlocked.Decrement(ref _inFlight);

    public void RecordAnswer(long timestamp) => Interlocked.Exchange(ref _lastAnswered, timestamp);

    /// <summary>
    /// A request failed on the upstream's side. Returns the failures in a row and whether this one took the instance
    /// out of routing (at <paramref name="threshold"/>).
    /// </summary>
    public (int Failures, bool TookOut) RecordFailure(string reason, string publicReason, int threshold)
    {
        var failures = Interlocked.Increment(ref _consecutiveFailures);
        var tookOut = failures >= threshold && MarkUnhealthy(reason, publicReason);
        return (failures, tookOut);
    }

    public void CountFailoverIn() => Interlocked.Increment(ref _failoversIn);

    public void CountFailoverOut() => Interlocked.Increment(ref _failoversOut);

    /// <summary>Adds one request's prefill chunks and the time it gave way to shorter prompts between them.</summary>
    public void CountPrefillChunks(int chunks, TimeSpan yielded)
    {
        Interlocked.Increment(ref _chunkedPrefills);
        Interlocked.Add(ref _prefillChunks, chunks);
        Interlocked.Add(ref _chunkYieldTicks, yielded.Ticks);
    }

    /// <summary>Adds what one finished request spent paused for shorter prompts.</summary>
    public void CountPrefillPauses(int pauses, TimeSpan paused)
    {
        Interlocked.Add(ref _prefillPauses, pauses);
        Interlocked.Add(ref _prefillPausedTicks, paused.Ticks);
    }
}
