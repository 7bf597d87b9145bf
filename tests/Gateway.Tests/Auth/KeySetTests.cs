using LlamaGateway.Auth;
using LlamaGateway.Hosting;

namespace LlamaGateway.Tests.Auth;

public sealed class KeySetTests
{
    private static KeySet Build() => ApiKeyStore.Build(new GatewayOptions
    {
        Users =
        [
            new UserOptions { Name = "alice", ApiKey = TeamGateway.AliceKey },
            new UserOptions { Name = "bob", ApiKeySha256 = TeamGateway.Sha256Hex(TeamGateway.BobKey) },
            new UserOptions { Name = "carol", ApiKeyEnv = "CAROL_KEY" },
        ],
        AdminApiKey = TeamGateway.AdminKey,
    }, name => name == "CAROL_KEY" ? "sk-carol-from-env-99" : null);

    [Theory]
    [InlineData(TeamGateway.AliceKey, "alice")]
    [InlineData(TeamGateway.BobKey, "bob")]
    [InlineData("sk-carol-from-env-99", "carol")]
    [InlineData(" " + TeamGateway.AliceKey + " ", "alice")]
    public void Authenticate_UserKey_ReturnsThatUser(string key, string expected)
    {
        var user = Build().Authenticate(key);

        Assert.NotNull(user);
        Assert.Equal(expected, user.Name);
        Assert.False(user.IsAdmin);
    }

    [Fact]
    public void Authenticate_AdminKey_ReturnsAdmin()
    {
        var user = Build().Authenticate(TeamGateway.AdminKey);

        Assert.NotNull(user);
        Assert.True(user.IsAdmin);
        Assert.Equal(KeySet.AdminName, user.Name);
    }

    [Theory]
    [InlineData("")]
    [InlineData("sk-alice-4b1d9c7e2f6")]
    [InlineData("SK-ALICE-4B1D9C7E2F6A")]
    [InlineData("c0ffee")]
    public void Authenticate_UnknownKey_ReturnsNull(string key)
    {
        Assert.Null(Build().Authenticate(key));
    }

    [Fact]
    public void Build_NoUsers_IsOpen()
    {
        var keys = ApiKeyStore.Build(new GatewayOptions(), _ => null);

        Assert.True(keys.IsOpen);
        Assert.False(keys.HasAnyKey);
        Assert.Empty(keys.UserNames);
    }

    [Fact]
    public void Build_Users_ListsNamesInConfigurationOrder()
    {
        Assert.Equal(["alice", "bob", "carol"], Build().UserNames);
    }
}
