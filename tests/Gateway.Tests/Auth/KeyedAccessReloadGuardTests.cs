using LlamaGateway.Auth;
using LlamaGateway.Hosting;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Tests.Auth;

/// <summary>A reload may change keys but never remove the last key in front of the model API or the dashboard.</summary>
public sealed class KeyedAccessReloadGuardTests
{
    private static readonly Dictionary<string, string> Environment = new() { ["CAROL_KEY"] = "sk-carol-from-environment" };

    private static readonly KeyedAccessReloadGuard Guard = new(name => Environment.GetValueOrDefault(name));

    private static readonly UserOptions Alice = new() { Name = "alice", ApiKey = "sk-alice-key-1" };
    private static readonly UserOptions Bob = new() { Name = "bob", ApiKey = "sk-bob-key-11" };

    private static GatewayOptions Options(string? admin, params UserOptions[] users) => new()
    {
        Upstreams = [new UpstreamOptions { Name = "a", BaseUrl = "http://127.0.0.1:1" }],
        Users = [.. users],
        AdminApiKey = admin,
    };

    [Theory]
    [InlineData("open stays open")]
    [InlineData("users added to an open gateway")]
    [InlineData("admin key added to an open gateway")]
    [InlineData("one of two users removed")]
    [InlineData("a key replaced")]
    [InlineData("every user replaced")]
    [InlineData("admin key removed while users remain")]
    [InlineData("admin key changed with no users")]
    [InlineData("admin key added to a keyed gateway")]
    public void Refuse_ChangeThatOpensNothing_Allowed(string change)
    {
        var (current, next) = change switch
        {
            "open stays open" => (Options(null), Options(null)),
            "users added to an open gateway" => (Options(null), Options(null, Alice)),
            "admin key added to an open gateway" => (Options(null), Options("sk-admin-key-1")),
            "one of two users removed" => (Options(null, Alice, Bob), Options(null, Alice)),
            "a key replaced" => (Options(null, Alice), Options(null, new UserOptions { Name = "alice", ApiKey = "sk-alice-key-2" })),
            "every user replaced" => (Options(null, Alice, Bob), Options(null, new UserOptions { Name = "carol", ApiKeyEnv = "CAROL_KEY" })),
            "admin key removed while users remain" => (Options("sk-admin-key-1", Alice), Options(null, Alice)),
            "admin key changed with no users" => (Options("sk-admin-key-1"), Options("sk-admin-key-2")),
            _ => (Options(null, Alice), Options("sk-admin-key-1", Alice)),
        };

        Assert.Null(Guard.Refuse(current, next));
    }

    [Fact]
    public void Refuse_EveryUserRemoved_SaysWhatItWouldOpenWhoKeepsKeysAndHowToOpenOnPurpose()
    {
        var refusal = Guard.Refuse(Options("sk-admin-key-1", Alice, Bob), Options("sk-admin-key-1"));

        Assert.NotNull(refusal);
        Assert.Contains("Gateway:Users empty", refusal);
        Assert.Contains("would open the model API", refusal);
        Assert.Contains("2 configured user(s) (alice, bob) keep their keys", refusal);
        Assert.Contains("restart", refusal);
        Assert.DoesNotContain("/status and /metrics", refusal); // the admin key still guards those
        Assert.DoesNotContain("sk-", refusal);
    }

    [Fact]
    public void Refuse_EveryUserAndTheAdminKeyRemoved_NamesTheDashboardToo()
    {
        var refusal = Guard.Refuse(Options("sk-admin-key-1", Alice), Options(null));

        Assert.NotNull(refusal);
        Assert.Contains("would open the model API", refusal);
        Assert.Contains("/status and /metrics with it", refusal);
    }

    [Fact]
    public void Refuse_AdminKeyRemovedWithNoUsers_SaysTheDashboardWouldOpen()
    {
        var refusal = Guard.Refuse(Options("sk-admin-key-1"), Options(null));

        Assert.NotNull(refusal);
        Assert.Contains("removes the admin key while no users are configured", refusal);
        Assert.Contains("/status", refusal);
        Assert.Contains("/metrics", refusal);
    }

    [Fact]
    public void Refuse_ManyUsersRemoved_ListsAFewNamesAndTheCount()
    {
        var users = Enumerable.Range(0, 25).Select(i => new UserOptions { Name = $"user{i:00}", ApiKey = $"sk-user-key-{i:00}" }).ToArray();

        var refusal = Guard.Refuse(Options(null, users), Options(null));

        Assert.NotNull(refusal);
        Assert.Contains("The 25 configured users (user00, ", refusal);
        Assert.Contains("user09 and 15 more)", refusal);
        Assert.DoesNotContain("user10", refusal);
    }
}
