using LlamaGateway.Routing;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Conversations;

/// <summary>
/// The conversations the gateway tracks, in a size-bounded <see cref="MemoryCache"/> with sliding expiry, plus an
/// index from each conversation's newest chain link (its tip) so a new turn finds its conversation: the longest
/// known chain the request extends.
/// </summary>
internal sealed class ConversationTable : IDisposable
{
    private readonly MemoryCache _cache;
    private readonly Dictionary<ulong, List<ConversationRecord>> _byTip = [];
    private readonly Dictionary<string, ConversationRecord> _bySession = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly IOptionsMonitor<RoutingOptions> _options;
    private long _sequence;

    public ConversationTable(IOptionsMonitor<RoutingOptions> options, TimeProvider time)
    {
        _options = options;
        _time = time;
        _cache = new MemoryCache(new MemoryCacheOptions
        {
            SizeLimit = Math.Max(16, options.CurrentValue.MaxConversations),
            CompactionPercentage = 0.10,
            ExpirationScanFrequency = TimeSpan.FromMinutes(1),
        });
    }

    public int Count => _cache.Count;

    /// <summary>
    /// Finds the conversation this request continues (its chain contains a known tip; longest wins; the same
    /// session breaks ties), or the session's main conversation when the chain is new but the session and system
    /// prompt are known, or starts a new one.
    /// </summary>
    public ConversationRecord Resolve(ConversationFingerprint fingerprint, string? user, string? sessionId)
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            var found = FindByChain(fingerprint, sessionId);
            if (found is null && sessionId is not null && _bySession.TryGetValue(sessionId, out var sessionMain) && sessionMain.PrefixKey == fingerprint.PrefixKey && sessionMain.User == user)
            {
                found = sessionMain;
            }

            if (found is null || found.User != user)
            {
                found = new ConversationRecord(NewId(fingerprint), fingerprint.PrefixKey, user, sessionId, now);
            }

            Touch(found, fingerprint, now);
            return found;
        }
    }

    public IReadOnlyList<ConversationRecord> Snapshot()
    {
        lock (_gate)
        {
            var all = new List<ConversationRecord>(_byTip.Count);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var list in _byTip.Values)
            {
                foreach (var record in list)
                {
                    if (seen.Add(record.Id))
                    {
                        all.Add(record);
                    }
                }
            }

            return all;
        }
    }

    public void Dispose() => _cache.Dispose();

    private ConversationRecord? FindByChain(ConversationFingerprint fingerprint, string? sessionId)
    {
        var chain = fingerprint.Chain;
        for (var i = chain.Length - 1; i >= 0; i--)
        {
            if (!_byTip.TryGetValue(chain[i], out var candidates))
            {
                continue;
            }

            ConversationRecord? best = null;
            foreach (var candidate in candidates)
            {
                if (candidate.PrefixKey != fingerprint.PrefixKey)
                {
                    continue;
                }

                if (sessionId is not null && candidate.SessionId == sessionId)
                {
                    return candidate;
                }

                if (best is null || candidate.LastSeen > best.LastSeen)
                {
                    best = candidate;
                }
            }

            if (best is not null)
            {
                return best;
            }
        }

        return null;
    }

    private void Touch(ConversationRecord record, ConversationFingerprint fingerprint, long now)
    {
        if (record.ChainLength > 0)
        {
            RemoveTip(record);
        }

        record.Tip = fingerprint.Tip;
        record.ChainLength = fingerprint.Chain.Length;
        record.LastSeen = now;
        if (!_byTip.TryGetValue(record.Tip, out var list))
        {
            list = new List<ConversationRecord>(1);
            _byTip[record.Tip] = list;
        }

        list.Add(record);
        if (record.SessionId is not null && (!_bySession.TryGetValue(record.SessionId, out var main) || main == record || main.ChainLength <= record.ChainLength))
        {
            _bySession[record.SessionId] = record;
        }

        // A tracked record only needs its sliding expiry refreshed (a read does that); Set would replace the entry and
        // queue an eviction callback on every turn.
        if (_cache.TryGetValue(record.Id, out _))
        {
            return;
        }

        var entryOptions = new MemoryCacheEntryOptions
        {
            Size = 1,
            SlidingExpiration = TimeSpan.FromMinutes(Math.Max(1, _options.CurrentValue.ConversationIdleMinutes)),
        };
        entryOptions.RegisterPostEvictionCallback(static (key, value, reason, state) =>
        {
            if (reason != EvictionReason.Replaced && value is ConversationRecord evicted && state is ConversationTable table)
            {
                table.Forget(evicted);
            }
        }, this);
        _cache.Set(record.Id, record, entryOptions);

        // At its size limit MemoryCache refuses new entries (and compacts in the background); an untracked record
        // must not linger in the indexes, or they would grow without bound.
        if (!_cache.TryGetValue(record.Id, out _))
        {
            RemoveTip(record);
        }
    }

    private void Forget(ConversationRecord record)
    {
        lock (_gate)
        {
            RemoveTip(record);
            if (record.SessionId is not null && _bySession.TryGetValue(record.SessionId, out var main) && main == record)
            {
                _bySession.Remove(record.SessionId);
            }
        }
    }

    private void RemoveTip(ConversationRecord record)
    {
        if (_byTip.TryGetValue(record.Tip, out var list))
        {
            list.Remove(record);
            if (list.Count == 0)
            {
                _byTip.Remove(record.Tip);
            }
        }
    }

    private string NewId(ConversationFingerprint fingerprint)
    {
        var sequence = Interlocked.Increment(ref _sequence);
        var first = fingerprint.Chain.Length > 0 ? fingerprint.Chain[0] : fingerprint.PrefixKey;
        return $"{first & 0xFFFFFF:x6}-{sequence}";
    }
}
