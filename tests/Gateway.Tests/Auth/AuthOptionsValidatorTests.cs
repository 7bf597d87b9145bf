using LlamaGateway.Auth;
using LlamaGateway.Hosting;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Tests.Auth;

public sealed class AuthOptionsValidatorTests
{
    private static readonly Dictionary<string, string> Environment = new() { ["ALICE_KEY"] = "sk-from-environment-1234" };

    private static readonly AuthOptionsValidator Validator = new(name => Environment.GetValueOrDefault(name));

    private static GatewayOptions Options(params UserOptions[] users) => new()
    {
        Upstreams = [new UpstreamOptions { Name = "a", BaseUrl = "http://127.0.0.1:1" }],
        Users = [.. users],
    };

    private static string[] Errors(GatewayOptions options) => Validator.Validate(null, options).Failures?.ToArray() ?? [];

    [Fact]
    public void Validate_EveryKeyForm_Succeeds()
    {
        var options = Options(
            new UserOptions { Name = "alice", ApiKeyEnv = "ALICE_KEY" },
            new UserOptions { Name = "bob", ApiKey = "sk-bob-plain-key" },
            new UserOptions { Name = "carol", ApiKeySha256 = TeamGateway.Sha256Hex("sk-carol-key").ToUpperInvariant() });
        options.AdminApiKeySha256 = TeamGateway.Sha256Hex("sk-admin-key");

        Assert.Empty(Errors(options));
    }

    [Fact]
    public void Validate_NoUsers_Succeeds()
    {
        Assert.Empty(Errors(Options()));
    }

    [Fact]
    public void Validate_DuplicateNames_NamesBothEntries()
    {
        var errors = Errors(Options(new UserOptions { Name = "alice", ApiKey = "sk-alice-1111" }, new UserOptions { Name = "Alice", ApiKey = "sk-alice-2222" }));

        var error = Assert.Single(errors);
        Assert.Contains("Gateway:Users:1:Name", error);
        Assert.Contains("Gateway:Users:0", error);
    }

    [Fact]
    public void Validate_DuplicateKeysAcrossForms_NamesBothEntriesButNotTheKey()
    {
        var errors = Errors(Options(new UserOptions { Name = "alice", ApiKey = "sk-shared-secret" }, new UserOptions { Name = "bob", ApiKeySha256 = TeamGateway.Sha256Hex("sk-shared-secret") }));

        var error = Assert.Single(errors);
        Assert.Contains("Gateway:Users:1", error);
        Assert.Contains("Gateway:Users:0", error);
        Assert.DoesNotContain("sk-shared-secret", error);
    }

    [Fact]
    public void Validate_NeitherKeyForm_NamesTheThreeKeys()
    {
        var error = Assert.Single(Errors(Options(new UserOptions { Name = "alice" })));

        Assert.Contains("Gateway:Users:0:ApiKey", error);
        Assert.Contains("Gateway:Users:0:ApiKeySha256", error);
        Assert.Contains("Gateway:Users:0:ApiKeyEnv", error);
    }

    [Fact]
    public void Validate_BothKeyForms_SaysSetExactlyOne()
    {
        var error = Assert.Single(Errors(Options(new UserOptions { Name = "alice", ApiKey = "sk-alice-1111", ApiKeySha256 = TeamGateway.Sha256Hex("x") })));

        Assert.Contains("Gateway:Users:0", error);
        Assert.Contains("exactly one", error);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("zz00000000000000000000000000000000000000000000000000000000000000")]
    public void Validate_BadHex_NamesTheKey(string hex)
    {
        var error = Assert.Single(Errors(Options(new UserOptions { Name = "alice", ApiKeySha256 = hex })));

        Assert.Contains("Gateway:Users:0:ApiKeySha256", error);
        Assert.Contains("64 hexadecimal", error);
    }

    [Fact]
    public void Validate_MissingEnvironmentVariable_NamesVariableAndKey()
    {
        var error = Assert.Single(Errors(Options(new UserOptions { Name = "alice", ApiKeyEnv = "NOBODY_SET_THIS" })));

        Assert.Contains("Gateway:Users:0:ApiKeyEnv", error);
        Assert.Contains("NOBODY_SET_THIS", error);
    }

    [Fact]
    public void Validate_ShortKey_RefusedWithoutQuotingIt()
    {
        var error = Assert.Single(Errors(Options(new UserOptions { Name = "alice", ApiKey = "pw123" })));

        Assert.Contains("Gateway:Users:0:ApiKey", error);
        Assert.DoesNotContain("pw123", error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("(admin)")]
    [InlineData("bad\nname")]
    public void Validate_UnusableName_NamesTheKey(string name)
    {
        var error = Assert.Single(Errors(Options(new UserOptions { Name = name, ApiKey = "sk-alice-1111" })));

        Assert.Contains("Gateway:Users:0:Name", error);
    }

    [Fact]
    public void Validate_AdminKeySameAsUserKey_Refused()
    {
        var options = Options(new UserOptions { Name = "alice", ApiKey = "sk-alice-1111" });
        options.AdminApiKey = "sk-alice-1111";

        var error = Assert.Single(Errors(options));
        Assert.Contains("Gateway:AdminApiKey", error);
        Assert.Contains("Gateway:Users:0", error);
    }

    [Fact]
    public void Validate_AdminKeyBadHex_NamesTheKey()
    {
        var options = Options();
        options.AdminApiKeySha256 = "nothex";

        Assert.Contains("Gateway:AdminApiKeySha256", Assert.Single(Errors(options)));
    }

    [Fact]
    public void Validate_NegativeLimits_NameEachKey()
    {
        var options = Options();
        options.Limits = new LimitsOptions
        {
            MaxConcurrentRequestsPerUser = -1, QueueLimit = -2, QueueSeconds = double.NaN,
            CountTokens = new CountTokensLimitsOptions { MaxConcurrentRequestsPerUser = -1, QueueLimit = -1, QueueSeconds = 4000 },
        };

        var errors = Errors(options);
        Assert.Equal(6, errors.Length);
        Assert.Contains(errors, e => e.Contains("Gateway:Limits:CountTokens:MaxConcurrentRequestsPerUser", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Gateway:Limits:CountTokens:QueueLimit", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Gateway:Limits:CountTokens:QueueSeconds", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Gateway:Limits:MaxConcurrentRequestsPerUser", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Gateway:Limits:QueueLimit", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Gateway:Limits:QueueSeconds", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(-1, 60, "Gateway:Limits:MaxFailedKeyAttempts")]
    [InlineData(20, 0, "Gateway:Limits:FailedKeyWindowSeconds")]
    [InlineData(20, double.PositiveInfinity, "Gateway:Limits:FailedKeyWindowSeconds")]
    public void Validate_BadFailedKeyLimit_NamesTheKey(int max, double windowSeconds, string key)
    {
        var options = Options();
        options.Limits = new LimitsOptions { MaxFailedKeyAttempts = max, FailedKeyWindowSeconds = windowSeconds };

        Assert.Contains(key, Assert.Single(Errors(options)));
    }
}
