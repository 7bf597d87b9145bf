using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace LlamaGateway.Normalization;

/// <summary>
/// Large JSON containers the normalizer copied unchanged, with their tape entries, so the same bytes in a later
/// request are copied after one comparison instead of a token-by-token scan. Claude Code re-sends a conversation's
/// earlier messages and its ~30 KB tools array byte for byte every turn; scanning them again was most of the
/// gateway's CPU per request.
/// <para>
/// Sound because a JSON value delimits itself: if the bytes at a value's start equal a cached value's bytes over that
/// value's whole length, the value there is that same value, already validated, with the same tokens. Nothing is
/// keyed on who sent it, and a hit writes out the request's own bytes, so sharing the cache across users hands no one
/// anything but their own input back.
/// </para>
/// Reads are lock-free; additions and evictions (second-chance FIFO up to <see cref="CapacityBytes"/>) take a lock.
/// </summary>
internal sealed class UnchangedValueCache
{
    /// <summary>Smaller containers are cheaper to scan than to look up and remember.</summary>
    public const int MinBytes = 1024;

    /// <summary>How many leading bytes pick the bucket; a lookup compares the candidates in full.</summary>
    private const int KeyBytes = 64;

    /// <summary>
    /// Values that share their first <see cref="KeyBytes"/> bytes kept side by side, sorted, so a lookup compares
    /// against about log2 of them: every conversation's first user message opens with the same reminder text.
    /// </summary>
    public const int DefaultMaxPerBucket = 1024;

    /// <summary>Bookkeeping per value beyond its bytes and entries: the object, its arrays' headers, the queue slot.</summary>
    internal const int OverheadBytes = 160;

    /// <summary>Slots of the seen-once filter (a power of two).</summary>
    private const int SeenSlots = 4096;

    private readonly ConcurrentDictionary<ulong, CachedValue[]> _buckets = new();

    /// <summary>
    /// Values offered once, by their hash: a value is remembered the second time it is offered.
    /// Most large values a request holds for the first time are never sent again (the newest message still carries
    /// its cache marker, a side request's prompt), and copying each into the cache would cost a long-lived
    /// allocation per request; a conversation's messages come back every turn, so they lose one turn at most.
    /// </summary>
    private readonly ulong[] _seen = new ulong[SeenSlots];
    private readonly Queue<CachedValue> _age = new();
    private readonly Lock _gate = new();
    private long _sizeBytes;
    private int _live;
    private long _sequence;
    private long _hits;
    private long _misses;

    private readonly int _maxPerBucket;

    public UnchangedValueCache(long capacityBytes, int maxPerBucket = DefaultMaxPerBucket)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacityBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPerBucket);
        CapacityBytes = capacityBytes;
        _maxPerBucket = maxPerBucket;
    }

    public long CapacityBytes { get; }

    /// <summary>Memory held now (bytes, tape entries and bookkeeping), at most <see cref="CapacityBytes"/>.</summary>
    public long SizeBytes => Volatile.Read(ref _sizeBytes);

    public int Count => Volatile.Read(ref _live);

    /// <summary>Values waiting in the eviction queue, dropped ones included (for tests: it stays near <see cref="Count"/>).</summary>
    internal int QueueLength
    {
        get
        {
            lock (_gate)
            {
                return _age.Count;
            }
        }
    }

    public long Hits => Volatile.Read(ref _hits);

    /// <summary>Lookups of a container at least <see cref="MinBytes"/> long that found nothing.</summary>
    public long Misses => Volatile.Read(ref _misses);

    /// <summary>
    /// The cached value that <paramref name="json"/> holds at <paramref name="start"/> (a container's first byte),
    /// or null.
    /// </summary>
    public CachedValue? Find(ReadOnlySpan<byte> json, int start)
    {
        var rest = json[start..];
        if (rest.Length < MinBytes || !_buckets.TryGetValue(KeyOf(rest), out var bucket))
        {
            return null;
        }

        var at = Predecessor(bucket, rest, out var starts);
        if (!starts)
        {
            return null;
        }

        var value = bucket[at];

        // Written only when it changes: every request reads the tools array's entry, on every core, and a store on
        // each would bounce its cache line between them.
        if (!value.Referenced)
        {
            value.Referenced = true;
        }

        return value;
    }

    /// <summary>
    /// As <see cref="Find(ReadOnlySpan{byte}, int)"/>, trying first the value that followed <paramref name="previous"/>
    /// (the normalizer's last hit in this body) the last time: a conversation's messages come back in the same order
    /// every turn, so one comparison usually finds the next one, without hashing its first bytes or searching a bucket
    /// (the bucket search was ~3 % of the gateway's CPU under load). A wrong guess costs one comparison that fails
    /// where the bytes first differ; what is found is remembered as <paramref name="previous"/>'s successor.
    /// </summary>
    public CachedValue? Find(ReadOnlySpan<byte> json, int start, CachedValue? previous)
    {
        if (previous?.Next is { Evicted: false } next && json.Length - start >= next.Bytes.Length && json.Slice(start, next.Bytes.Length).SequenceEqual(next.Bytes))
        {
            if (!next.Referenced)
            {
                next.Referenced = true;
            }

            return next;
        }

        var found = Find(json, start);

        // Racing requests may each set it; any value will do, since a guess is always compared in full before use.
        if (found is not null && previous is not null && !ReferenceEquals(previous.Next, found))
        {
            previous.Next = found;
        }

        return found;
    }

    /// <summary>
    /// Index of the greatest value in <paramref name="bucket"/> (sorted by bytes) that is not above
    /// <paramref name="rest"/>, or -1, and whether that value starts <paramref name="rest"/>. No cached value is a prefix of another (each is a whole JSON value, which ends
    /// where its bytes say), so if any cached value starts <paramref name="rest"/>, it is that one: anything sorting
    /// between it and <paramref name="rest"/> would have to start with it too. A bucket can hold many values that
    /// agree for kilobytes (every conversation's first message opens with the same CLAUDE.md reminder), and this
    /// compares against a handful of them, not all.
    /// </summary>
    private static int Predecessor(CachedValue[] bucket, ReadOnlySpan<byte> rest, out bool starts)
    {
        int low = 0, high = bucket.Length - 1, found = -1;
        starts = false;

        // Bytes that the values just outside [low, high] share with rest. The bucket is sorted, so every value
        // between them shares at least the smaller count too, and a comparison starts there: values that agree for
        // kilobytes are then compared over their common part about once per lookup, not once per step (a profile
        // under load had the full comparisons at ~3 % of the gateway's CPU).
        int lowShared = 0, highShared = 0;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            var order = Compare(bucket[middle].Bytes, rest, Math.Min(lowShared, highShared), out var shared);
            if (order <= 0)
            {
                found = middle;
                starts = order == 0;
                low = middle + 1;
                lowShared = shared;
            }
            else
            {
                high = middle - 1;
                highShared = shared;
            }
        }

        return found;
    }

    /// <summary>
    /// Orders a cached value against the body from a value's start (equal when the value starts it), given that their
    /// first <paramref name="known"/> bytes agree; <paramref name="shared"/> is how many leading bytes they have in common.
    /// </summary>
    private static int Compare(ReadOnlySpan<byte> value, ReadOnlySpan<byte> rest, int known, out int shared)
    {
        var common = Math.Min(value.Length, rest.Length);
        shared = known + value[known..common].CommonPrefixLength(rest[known..common]);
        if (shared < common)
        {
            return value[shared] < rest[shared] ? -1 : 1;
        }

        return value.Length <= rest.Length ? 0 : 1;
    }

    /// <summary>
    /// Adds one request's hits and misses (lookups that found nothing for a container that then turned out large
    /// enough to cache): once per request, since a shared counter bumped per value is contended across cores.
    /// </summary>
    public void CountLookups(int hits, int misses)
    {
        if (hits > 0)
        {
            Interlocked.Add(ref _hits, hits);
        }

        if (misses > 0)
        {
            Interlocked.Add(ref _misses, misses);
        }
    }

    /// <summary>
    /// Offers a container the normalizer wrote unchanged, remembered from its second offer on (see <see cref="_seen"/>):
    /// <paramref name="bytes"/> as read (and written), and the
    /// tape entries recorded for it, which start with the container's own start entry (at <paramref name="firstIndex"/>
    /// of the recording). Their positions, depths and indices are made relative to the container.
    /// </summary>
    public void Add(ReadOnlySpan<byte> bytes, ReadOnlySpan<JsonTape.Entry> entries, int firstIndex)
    {
        if (bytes.Length < MinBytes || entries.IsEmpty || (2L * bytes.Length) + OverheadBytes + ((long)entries.Length * Unsafe.SizeOf<JsonTape.Entry>()) > CapacityBytes / 4)
        {
            return;
        }

        var key = KeyOf(bytes);
        // The whole value's hash: a new turn's message often starts like an old one (role, block type, tool id).
        var tag = (ulong)System.IO.Hashing.XxHash64.HashToUInt64(bytes, bytes.Length) | 1;
        ref var seen = ref _seen[(int)(tag & (SeenSlots - 1))];
        if (Volatile.Read(ref seen) != tag)
        {
            // Racing writers may overwrite each other's slot: a value then waits one more sighting, nothing worse.
            Volatile.Write(ref seen, tag);
            return;
        }

        Volatile.Write(ref seen, 0);
        var added = CachedValue.Create(key, bytes, entries, firstIndex);
        lock (_gate)
        {
            var bucket = _buckets.TryGetValue(key, out var current) ? current : [];
            var before = Predecessor(bucket, bytes, out var known);
            if (known)
            {
                return;
            }

            // A bucket shares its first bytes; past its limit its least recently added value goes (and its cost).
            var evict = bucket.Length >= _maxPerBucket ? Oldest(bucket) : -1;
            if (evict >= 0)
            {
                var dropped = bucket[evict];
                dropped.Evicted = true;
                dropped.Next = null;
                _sizeBytes -= dropped.CostBytes;
                _live--;
            }

            // The bucket stays sorted by bytes: the new value right after its predecessor, the evicted one left out; built
            // in one pass, since this runs under the lock every normalizer shares.
            var next = new CachedValue[bucket.Length + (evict >= 0 ? 0 : 1)];
            var n = 0;
            if (before < 0)
            {
                next[n++] = added;
            }

            for (var i = 0; i < bucket.Length; i++)
            {
                if (i != evict)
                {
                    next[n++] = bucket[i];
                }

                if (i == before)
                {
                    next[n++] = added;
                }
            }

            _buckets[key] = next;
            _age.Enqueue(added);
            _sizeBytes += added.CostBytes;
            _live++;
            _sequence++;
            added.Sequence = _sequence;
            EvictOverCapacity();
        }
    }

    private static int Oldest(CachedValue[] bucket)
    {
        var oldest = 0;
        for (var i = 1; i < bucket.Length; i++)
        {
            if (bucket[i].Sequence < bucket[oldest].Sequence)
            {
                oldest = i;
            }
        }

        return oldest;
    }

    private void EvictOverCapacity()
    {
        // Values a full bucket dropped wait in the queue until they reach its front; a queue that is mostly such
        // values (the cache below capacity, so no sweep runs) is rebuilt, or it would grow with every addition.
        if (_age.Count > (2 * _live) + 64)
        {
            var liveOnly = _age.Where(value => !value.Evicted).ToArray();
            _age.Clear();
            foreach (var value in liveOnly)
            {
                _age.Enqueue(value);
            }
        }

        while (_sizeBytes > CapacityBytes && _age.TryDequeue(out var oldest))
        {
            if (oldest.Evicted)
            {
                continue;
            }

            if (oldest.Referenced)
            {
                // Second chance: used since it last came round, so it stays for another lap.
                oldest.Referenced = false;
                _age.Enqueue(oldest);
                continue;
            }

            Remove(oldest);
        }

        // Evicted values left behind in the queue by full buckets are dropped when they reach its front.
    }

    private void Remove(CachedValue value)
    {
        value.Evicted = true;

        // A live value's successor link may keep this one alive until it is overwritten; this one keeps nothing.
        value.Next = null;
        _sizeBytes -= value.CostBytes;
        _live--;
        if (_buckets.TryGetValue(value.Key, out var bucket))
        {
            var rest = Array.FindAll(bucket, v => !ReferenceEquals(v, value));
            if (rest.Length == 0)
            {
                _buckets.TryRemove(value.Key, out _);
            }
            else
            {
                _buckets[value.Key] = rest;
            }
        }
    }

    /// <summary>A hash of the first <see cref="KeyBytes"/> bytes (callers guarantee at least <see cref="MinBytes"/>).</summary>
    private static ulong KeyOf(ReadOnlySpan<byte> bytes)
    {
        var hash = 0x9E3779B97F4A7C15UL;
        for (var at = 0; at < KeyBytes; at += sizeof(ulong))
        {
            hash = (hash ^ BinaryPrimitives.ReadUInt64LittleEndian(bytes[at..])) * 0xBF58476D1CE4E5B9UL;
            hash ^= hash >> 31;
        }

        return hash;
    }
}

/// <summary>One remembered container: its bytes and its tape entries, relative to its first byte, depth and entry.</summary>
internal sealed class CachedValue
{
    private CachedValue(ulong key, byte[] bytes, JsonTape.Entry[] entries, int deepest)
    {
        Key = key;
        Bytes = bytes;
        Entries = entries;
        Deepest = deepest;
        // Twice the bytes: the translation memo, made later, is about as long as the value.
        CostBytes = (2L * bytes.Length) + ((long)entries.Length * Unsafe.SizeOf<JsonTape.Entry>()) + UnchangedValueCache.OverheadBytes;
    }

    public ulong Key { get; }

    public byte[] Bytes { get; }

    public JsonTape.Entry[] Entries { get; }

    /// <summary>Nesting levels the value opens, itself included: what it adds to the depth it is written at.</summary>
    public int Deepest { get; }

    public long CostBytes { get; }

    /// <summary>Found since the eviction sweep last passed it.</summary>
    public bool Referenced { get; set; }

    public bool Evicted { get; set; }

    /// <summary>
    /// The value the normalizer found next in the same body the last time it found this one (see
    /// <see cref="UnchangedValueCache.Find(ReadOnlySpan{byte}, int, CachedValue?)"/>); a guess, always compared before use.
    /// </summary>
    public CachedValue? Next { get; set; }

    /// <summary>Order of addition, for choosing which value a full bucket drops.</summary>
    public long Sequence { get; set; }

    /// <summary>
    /// What the fingerprint (stage 2) derived from this value the last time it met it, so it is not hashed again every
    /// turn. A pure function of the value's bytes and of how it was used (the memo says which), so safe to share.
    /// </summary>
    public Conversations.FingerprintMemo? Fingerprint { get; set; }

    /// <summary>
    /// What the translator (stage 4) wrote for this value, so a cached message or tools array is translated once. Like
    /// <see cref="Fingerprint"/>, a function of the bytes and the use alone (translation errors are never kept).
    /// </summary>
    public Translation.TranslationMemo? Translation { get; set; }

    public static CachedValue Create(ulong key, ReadOnlySpan<byte> bytes, ReadOnlySpan<JsonTape.Entry> recorded, int firstIndex)
    {
        // The inverse of writing it back (JsonTapeRecorder.AppendCached): moved to position, depth and index zero.
        var first = recorded[0];
        var entries = new JsonTape.Entry[recorded.Length];
        JsonTapeRecorder.Relocate(recorded, entries, -first.Start, -first.Depth, -firstIndex);
        var deepest = 0;
        foreach (var entry in entries)
        {
            if (entry.Type is System.Text.Json.JsonTokenType.StartObject or System.Text.Json.JsonTokenType.StartArray)
            {
                deepest = Math.Max(deepest, entry.Depth + 1);
            }
        }

        return new CachedValue(key, bytes.ToArray(), entries, deepest);
    }
}
