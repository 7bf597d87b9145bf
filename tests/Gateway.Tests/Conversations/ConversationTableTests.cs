using LlamaGateway.Auth;
using LlamaGateway.Conversations;
using LlamaGateway.Hosting;
using LlamaGateway.Routing;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Conversations;

/// <summary>The conversation table keeps each identity's conversations apart and bounds each identity's share.</summary>
public sealed class ConversationTableTests
{
    private const ulong Prefix = 0xC0FFEE;
    private readonly ManualTimeProvider _time = new();

    private ConversationTable Table(int maxConversations = 10_000, int users = 0, double idleMinutes = 240)
    {
        var gateway = new GatewayOptions { Users = [.. Enumerable.Range(0, users).Select(i => new UserOptions { Name = $"user{i}", ApiKey = $"sk-key-of-user-{i}-0123456789" })] };
        return new ConversationTable(
            new StaticOptionsMonitor<RoutingOptions>(new RoutingOptions { MaxConversations = maxConversations, ConversationIdleMinutes = idleMinutes }),
            _time,
            new StaticOptionsMonitor<GatewayOptions>(gateway));
    }

    /// <summary>Turn <paramref name="turn"/> of a conversation whose messages are <paramref name="seed"/>+1, +2, ...</summary>
    private static ConversationFingerprint Turn(ulong seed, int turn, ulong prefix = Prefix) => new()
    {
        PrefixKey = prefix,
        Chain = [.. Enumerable.Range(1, (2 * turn) - 1).Select(i => seed + (ulong)i)],
        PromptChars = 40_000,
        ToolCount = 1,
        Model = "m",
        MaxTokens = 100,
    };

    [Fact]
    public void Resolve_TwoIdentitiesWithIdenticalContent_EachContinuesItsOwnConversation()
    {
        using var table = Table();
        var alice1 = table.Resolve(Turn(1000, 1), "alice", "alice", "s-a");
        var bob1 = table.Resolve(Turn(1000, 1), "bob", "bob", "s-b");
        Assert.NotSame(alice1, bob1);

        // Interleaved, in both orders: each identity's later turns find its own conversation, never the other's.
        for (var turn = 2; turn <= 4; turn++)
        {
            var bob = table.Resolve(Turn(1000, turn), "bob", "bob", "s-b");
            var alice = table.Resolve(Turn(1000, turn), "alice", "alice", "s-a");
            Assert.Same(alice1, alice);
            Assert.Same(bob1, bob);
        }

        Assert.Equal(2, table.Count);
        Assert.Equal("alice", alice1.Owner);
        Assert.Equal("bob", bob1.Owner);
    }

    [Fact]
    public void Resolve_OtherIdentityReplaysSessionIdAndContent_OwnersNextTurnKeepsItsConversation()
    {
        using var table = Table();
        var alice = table.Resolve(Turn(1000, 2), "alice", "alice", "session-1");

        // Bob sends alice's session id with her prefix, her exact prompt, and a longer chain of his own.
        var replayed = table.Resolve(Turn(1000, 2), "bob", "bob", "session-1");
        var longer = table.Resolve(Turn(1000, 5), "bob", "bob", "session-1");
        var newChain = table.Resolve(Turn(5000, 1), "bob", "bob", "session-1");

        Assert.NotSame(alice, replayed);
        Assert.NotSame(alice, longer);
        Assert.NotSame(alice, newChain);
        Assert.Same(alice, table.Resolve(Turn(1000, 3), "alice", "alice", "session-1"));

        // Her session's main conversation is still hers: a new chain in her session with her prefix (e.g. after
        // compaction) continues it.
        Assert.Same(alice, table.Resolve(Turn(9000, 1), "alice", "alice", "session-1"));
    }

    [Fact]
    public void Resolve_OneUserStarts20000Conversations_OtherUsersConversationsStay()
    {
        using var table = Table(maxConversations: 10_000, users: 2);
        var alice = Enumerable.Range(0, 20).Select(i => table.Resolve(Turn(1_000_000UL * (ulong)(i + 1), 1), "alice", "alice", null)).ToList();

        ConversationRecord? firstOfBob = null, lastOfBob = null;
        for (var i = 0; i < 20_000; i++)
        {
            lastOfBob = table.Resolve(Turn(10_000_000_000UL + (1000UL * (ulong)i), 1), "bob", "bob", null);
            firstOfBob ??= lastOfBob;
        }

        Assert.Equal(5_000, table.SharePerIdentity);
        Assert.Equal(5_000, table.CountFor("bob"));
        Assert.Equal(20, table.CountFor("alice"));
        for (var i = 0; i < alice.Count; i++)
        {
            Assert.Same(alice[i], table.Resolve(Turn(1_000_000UL * (ulong)(i + 1), 2), "alice", "alice", null));
        }

        // Bob kept his 5,000 most recent conversations; his first went to make room for his own.
        Assert.Same(lastOfBob, table.Resolve(Turn(10_000_000_000UL + (1000UL * 19_999), 2), "bob", "bob", null));
        Assert.NotSame(firstOfBob, table.Resolve(Turn(10_000_000_000UL, 2), "bob", "bob", null));
        Assert.Equal(5_000, table.CountFor("bob"));
        Assert.Equal(5_020, table.Count);
    }

    [Fact]
    public void Resolve_IdentityAtItsShare_DropsItsOwnLeastRecentlySeenConversation()
    {
        using var table = Table(maxConversations: 100, users: 2);
        var first = table.Resolve(Turn(1000, 1), "bob", "bob", null);
        var second = table.Resolve(Turn(2000, 1), "bob", "bob", null);
        for (var i = 3; i <= 50; i++)
        {
            table.Resolve(Turn(1000UL * (ulong)i, 1), "bob", "bob", null);
        }

        // The first is seen again, so the second is now his least recently seen.
        Assert.Same(first, table.Resolve(Turn(1000, 2), "bob", "bob", null));
        table.Resolve(Turn(999_000, 1), "bob", "bob", null);

        Assert.Equal(50, table.CountFor("bob"));
        Assert.Same(first, table.Resolve(Turn(1000, 3), "bob", "bob", null));
        Assert.NotSame(second, table.Resolve(Turn(2000, 2), "bob", "bob", null));
    }

    [Fact]
    public void Resolve_ManyIdentitiesOnAnOpenGateway_TableAndItsIndexStayWithinTheLimit()
    {
        using var table = Table(maxConversations: 1_000);
        for (var i = 0; i < 5_000; i++)
        {
            for (var c = 0; c < 3; c++)
            {
                table.Resolve(Turn((10_000UL * (ulong)i) + (100UL * (ulong)c), 1), $"device-{i}", null, null);
            }
        }

        Assert.Equal(1_000, table.Count);
        Assert.Equal(ConversationTable.MinSharePerIdentity, table.SharePerIdentity);
        Assert.Equal(0, table.CountFor("device-0"));
        Assert.Equal(3, table.CountFor("device-4999"));

        // Past the limit the table drops the least recently seen of all: what is left are the newest identities'.
        Assert.All(table.Snapshot(), c => Assert.True(int.Parse(c.Owner!["device-".Length..], System.Globalization.CultureInfo.InvariantCulture) >= 5_000 - 334, c.Owner));
    }

    [Fact]
    public void Resolve_AfterConversationIdleMinutes_StartsANewConversation()
    {
        using var table = Table(idleMinutes: 30);
        var first = table.Resolve(Turn(1000, 1), "alice", "alice", null);
        _time.Advance(TimeSpan.FromMinutes(29));
        Assert.Same(first, table.Resolve(Turn(1000, 2), "alice", "alice", null));

        // Sliding: 29 more minutes after the last turn is still within the idle time; 31 is not.
        _time.Advance(TimeSpan.FromMinutes(29));
        Assert.Same(first, table.Resolve(Turn(1000, 3), "alice", "alice", null));
        _time.Advance(TimeSpan.FromMinutes(31));
        Assert.NotSame(first, table.Resolve(Turn(1000, 4), "alice", "alice", null));
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void Resolve_AnonymousIdentity_SharesOneTableOfItsOwn()
    {
        using var table = Table();
        var anonymous = table.Resolve(Turn(1000, 1), null, null, null);

        Assert.Same(anonymous, table.Resolve(Turn(1000, 2), null, null, null));
        Assert.NotSame(anonymous, table.Resolve(Turn(1000, 3), "device-1", null, null));
        Assert.Null(anonymous.Owner);
    }
}
