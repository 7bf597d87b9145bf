using LlamaGateway.Hosting;
using LlamaGateway.Routing;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Conversations;

/// <summary>
/// The conversations the gateway tracks, kept apart per identity (the user, or when the gateway is open the Claude
/// Code installation, else the session): a request finds only its own identity's conversations, so another user's
/// identical content, replayed session id or flood of conversations never re-pins, splits or evicts yours. Within an
/// identity an index from each conversation's newest chain link (its tip) lets a new turn find its conversation: the
/// longest known chain the request extends.
/// <para>
/// Bounded two ways: each identity keeps at most its share of <c>MaxConversations</c> (the limit divided by the
/// configured users, or by the identities holding conversations if more, but never less than
/// <see cref="MinSharePerIdentity"/>), dropping its own least recently seen conversation to start one more; and the
/// table as a whole keeps at most <c>MaxConversations</c>, dropping the least recently seen of all (which only
/// happens when so many identities are active that their shares exceed the limit). Conversations idle for
/// <c>ConversationIdleMinutes</c> are dropped.
/// </para>
/// </summary>
internal sealed class ConversationTable : IDisposable
{
    /// <summary>The conversations one identity may keep however many identities share the table (bounded by the limit itself).</summary>
    public const int MinSharePerIdentity = 32;

    private readonly Dictionary<string, OwnerConversations> _owners = new(StringComparer.Ordinal);
    private readonly OwnerConversations _anonymous = new();

    // Most recently seen first, every conversation of every identity.
    private readonly LinkedList<ConversationRecord> _recency = new();
    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly IOptionsMonitor<RoutingOptions> _options;
    private readonly IOptionsMonitor<GatewayOptions>? _gateway;
    private long _sequence;

    public ConversationTable(IOptionsMonitor<RoutingOptions> options, TimeProvider time, IOptionsMonitor<GatewayOptions>? gateway = null)
    {
        _options = options;
        _time = time;
        _gateway = gateway;
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _recency.Count;
            }
        }
    }

    /// <summary>
    /// Finds the conversation of <paramref name="owner"/> this request continues (its chain contains a known tip;
    /// longest wins; the same session breaks ties), or that identity's session main conversation when the chain is
    /// new but the session and system prompt are known, or starts a new one for it.
    /// </summary>
    /// <param name="owner">The request's identity (<c>GatewayRequestContext.ClientIdentity</c>); null is the anonymous identity.</param>
    /// <param name="user">The configured user, recorded for per-user views (null when the gateway is open).</param>
    public ConversationRecord Resolve(ConversationFingerprint fingerprint, string? owner, string? user, string? sessionId)
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            DropIdle(now);
            var conversations = OwnerFor(owner);
            var found = FindByChain(conversations, fingerprint, sessionId);
            if (found is null && sessionId is not null && conversations.BySession.TryGetValue(sessionId, out var sessionMain) && sessionMain.PrefixKey == fingerprint.PrefixKey)
            {
                found = sessionMain;
            }

            if (found is null)
            {
                found = new ConversationRecord(NewId(fingerprint), fingerprint.PrefixKey, owner, user, sessionId, now);
                Admit(conversations, found);
            }

            Touch(conversations, found, fingerprint, now);
            return found;
        }
    }

    /// <summary>How many conversations one identity may keep right now (see the class summary).</summary>
    public int SharePerIdentity
    {
        get
        {
            lock (_gate)
            {
                return Share(Limit());
            }
        }
    }

    /// <summary>How many conversations <paramref name="owner"/> has right now.</summary>
    public int CountFor(string? owner)
    {
        lock (_gate)
        {
            return (owner is null ? _anonymous : _owners.GetValueOrDefault(owner))?.Recency.Count ?? 0;
        }
    }

    public IReadOnlyList<ConversationRecord> Snapshot()
    {
        lock (_gate)
        {
            DropIdle(_time.GetTimestamp());
            return [.. _recency];
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _owners.Clear();
            _anonymous.Clear();
            _recency.Clear();
        }
    }

    private OwnerConversations OwnerFor(string? owner)
    {
        if (owner is null)
        {
            return _anonymous;
        }

        if (!_owners.TryGetValue(owner, out var conversations))
        {
            conversations = new OwnerConversations();
            _owners[owner] = conversations;
        }

        return conversations;
    }

    private int Limit() => Math.Max(16, _options.CurrentValue.MaxConversations);

    private int Share(int limit)
    {
        var identities = _owners.Count + (_anonymous.Recency.Count > 0 ? 1 : 0);
        var users = _gateway?.CurrentValue.Users.Count ?? 0;
        return Math.Min(limit, Math.Max(MinSharePerIdentity, limit / Math.Max(1, Math.Max(users, identities))));
    }

    /// <summary>Makes room for one more conversation of <paramref name="conversations"/>: its own oldest first, then the table's oldest.</summary>
    private void Admit(OwnerConversations conversations, ConversationRecord record)
    {
        var limit = Limit();
        var share = Share(limit);
        while (conversations.Recency.Count >= share && conversations.Recency.Last is { } own)
        {
            Drop(own.Value, conversations);
        }

        while (_recency.Count >= limit && _recency.Last is { } oldest)
        {
            Drop(oldest.Value, conversations);
        }

        record.OwnerNode = conversations.Recency.AddFirst(record);
        record.TableNode = _recency.AddFirst(record);
    }

    /// <summary>Drops conversations not seen for <c>ConversationIdleMinutes</c> (sliding expiry), oldest first.</summary>
    private void DropIdle(long now)
    {
        var idle = TimeSpan.FromMinutes(Math.Max(1, _options.CurrentValue.ConversationIdleMinutes));
        while (_recency.Last is { } oldest && _time.GetElapsedTime(oldest.Value.LastSeen, now) >= idle)
        {
            Drop(oldest.Value, keep: null);
        }
    }

    private void Drop(ConversationRecord record, OwnerConversations? keep)
    {
        // Out of both recency orders first, unconditionally: the loops that make room count on every drop shrinking them.
        if (record.OwnerNode is { List: { } ownerList } ownerNode)
        {
            ownerList.Remove(ownerNode);
        }

        if (record.TableNode is { List: { } tableList } tableNode)
        {
            tableList.Remove(tableNode);
        }

        record.OwnerNode = null;
        record.TableNode = null;
        var conversations = record.Owner is null ? _anonymous : _owners.GetValueOrDefault(record.Owner);
        if (conversations is null)
        {
            return;
        }

        RemoveTip(conversations, record);
        if (record.SessionId is not null && conversations.BySession.TryGetValue(record.SessionId, out var main) && main == record)
        {
            conversations.BySession.Remove(record.SessionId);
        }

        // An identity with nothing left goes too, so clients inventing identities cannot grow the table's index.
        if (conversations.Recency.Count == 0 && conversations != keep && record.Owner is not null)
        {
            _owners.Remove(record.Owner);
        }
    }

    private static ConversationRecord? FindByChain(OwnerConversations conversations, ConversationFingerprint fingerprint, string? sessionId)
    {
        var chain = fingerprint.Chain;
        for (var i = chain.Length - 1; i >= 0; i--)
        {
            if (!conversations.ByTip.TryGetValue(chain[i], out var candidates))
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

    private void Touch(OwnerConversations conversations, ConversationRecord record, ConversationFingerprint fingerprint, long now)
    {
        if (record.ChainLength > 0)
        {
            RemoveTip(conversations, record);
        }

        record.Tip = fingerprint.Tip;
        record.ChainLength = fingerprint.Chain.Length;
        record.LastSeen = now;
        if (!conversations.ByTip.TryGetValue(record.Tip, out var list))
        {
            list = new List<ConversationRecord>(1);
            conversations.ByTip[record.Tip] = list;
        }

        list.Add(record);
        if (record.SessionId is not null && (!conversations.BySession.TryGetValue(record.SessionId, out var main) || main == record || main.ChainLength <= record.ChainLength))
        {
            conversations.BySession[record.SessionId] = record;
        }

        MoveToFront(conversations.Recency, record.OwnerNode);
        MoveToFront(_recency, record.TableNode);
    }

    private static void MoveToFront(LinkedList<ConversationRecord> list, LinkedListNode<ConversationRecord>? node)
    {
        if (node is not null && node != list.First)
        {
            list.Remove(node);
            list.AddFirst(node);
        }
    }

    private static void RemoveTip(OwnerConversations conversations, ConversationRecord record)
    {
        if (conversations.ByTip.TryGetValue(record.Tip, out var list))
        {
            list.Remove(record);
            if (list.Count == 0)
            {
                conversations.ByTip.Remove(record.Tip);
            }
        }
    }

    private string NewId(ConversationFingerprint fingerprint)
    {
        var sequence = Interlocked.Increment(ref _sequence);
        var first = fingerprint.Chain.Length > 0 ? fingerprint.Chain[0] : fingerprint.PrefixKey;
        return $"{first & 0xFFFFFF:x6}-{sequence}";
    }

    /// <summary>One identity's conversations: by tip, by session (its main conversation), most recently seen first.</summary>
    private sealed class OwnerConversations
    {
        public Dictionary<ulong, List<ConversationRecord>> ByTip { get; } = [];

        public Dictionary<string, ConversationRecord> BySession { get; } = new(StringComparer.Ordinal);

        public LinkedList<ConversationRecord> Recency { get; } = new();

        public void Clear()
        {
            ByTip.Clear();
            BySession.Clear();
            Recency.Clear();
        }
    }
}
