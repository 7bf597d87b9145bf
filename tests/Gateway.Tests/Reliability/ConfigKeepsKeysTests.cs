using System.Net;
using System.Net.Http.Headers;
using System.Text;
using LlamaGateway.Hosting;
using LlamaGateway.Routing;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// A keyed gateway never opens by accident while it runs: a configuration file that disappears or cannot be read keeps
/// the last good configuration, and a valid edit that would remove the last key in front of something is refused
/// (all or nothing). Edits that only change keys apply. Every test ends with requests showing whether keys are still
/// required. Real temporary file, real file watcher.
/// </summary>
public sealed class ConfigKeepsKeysTests
{
    private const string AliceKey = "alice-key-0123456789";
    private const string BobKey = "bob-key-0123456789";
    private const string AdminKey = "admin-key-0123456789";

    private static readonly TimeSpan ReloadBound = TimeSpan.FromSeconds(15);

    private static readonly object[] AliceAndBob = [new { Name = "alice", ApiKey = AliceKey }, new { Name = "bob", ApiKey = BobKey }];

    public enum Breakage
    {
        Deleted,
        ReplacedByDirectory,
        Unreadable,
        InvalidUtf8,
        TruncatedJson,
    }

    [Theory]
    [InlineData(Breakage.Deleted)]
    [InlineData(Breakage.ReplacedByDirectory)]
    [InlineData(Breakage.Unreadable)]
    [InlineData(Breakage.InvalidUtf8)]
    [InlineData(Breakage.TruncatedJson)]
    public async Task Reload_FileGoneOrUnreadable_LastGoodStaysAndKeysStillRequired(Breakage breakage)
    {
        // Users in the file, upstreams on the command line: the set-up in which deleting the file used to open the gateway.
        await using var upstream = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await ConfigFileGateway.StartAsync(
            UsersOnly(AliceAndBob, maxQueueSeconds: 42),
            "--Gateway:Upstreams:0:Name=one", $"--Gateway:Upstreams:0:BaseUrl={upstream.BaseUrl}", "--Gateway:Upstreams:0:Slots=2");
        var gate = gateway.Service<ConfigurationReloadGate>();
        await AssertKeyedAsync(gateway);

        await BreakAsync(gateway.Path, breakage);
        string[] reasons = breakage switch
        {
            Breakage.Deleted => ["the file no longer exists"],
            Breakage.ReplacedByDirectory => ["it is now a directory"],
            Breakage.Unreadable => ["is denied", "Input/output error"], // chmod 000, or (as root) the unreadable link
            Breakage.InvalidUtf8 => ["not valid UTF-8 text (line 1"],
            _ => ["Could not parse the JSON file"],
        };
        await Poll.UntilAsync(() => reasons.Any(r => gateway.Logs.All.Contains(r, StringComparison.Ordinal)), $"the change to be reported ({reasons[0]})", ReloadBound);

        Assert.Contains($"Error LlamaGateway.Hosting.ConfigurationReloadGate: Configuration file {gateway.Path} could not be read, the last good configuration stays in force", gateway.Logs.All);

        // The configuration itself kept its values (not only the options built from it), and the gate saw no change.
        var configuration = gateway.Service<IConfiguration>();
        Assert.Equal("alice", configuration["Gateway:Users:0:Name"]);
        Assert.Equal(AliceKey, configuration["Gateway:Users:0:ApiKey"]);
        Assert.Equal(0, gate.RejectedReloads);
        Assert.Equal(42, gateway.Service<IOptionsMonitor<RoutingOptions>>().CurrentValue.MaxQueueSeconds);
        await AssertKeyedAsync(gateway);

        // Repaired, the file applies again (the watch survived).
        await ReplaceAsync(gateway.Path, UsersOnly([new { Name = "alice", ApiKey = AliceKey }], maxQueueSeconds: 43));
        await Poll.UntilAsync(() => gateway.Service<IOptionsMonitor<RoutingOptions>>().CurrentValue.MaxQueueSeconds == 43, "the repaired file to apply", ReloadBound);
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(gateway, BobKey));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(gateway, AliceKey));
    }

    [Theory]
    [InlineData("emptied")]
    [InlineData("section removed")]
    [InlineData("file emptied to {}")]
    public async Task Reload_ValidEditRemovesEveryUser_RefusedAllOrNothingAndKeysStillRequired(string edit)
    {
        await using var upstream = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        var keep = new[] { "--Gateway:Upstreams:0:Name=one", $"--Gateway:Upstreams:0:BaseUrl={upstream.BaseUrl}", "--Gateway:Upstreams:0:Slots=2" };
        await using var gateway = await ConfigFileGateway.StartAsync(UsersOnly(AliceAndBob, maxQueueSeconds: 42), keep);
        var gate = gateway.Service<ConfigurationReloadGate>();
        await AssertKeyedAsync(gateway);

        // Beside removing the users, each edit changes other options (all valid): none of it may apply.
        await gateway.WriteAsync(edit switch
        {
            "emptied" => Json(new { Users = Array.Empty<object>(), Routing = new { MaxQueueSeconds = 7 }, Upstreams = new[] { new { Name = "one", BaseUrl = upstream.BaseUrl, Slots = 2 }, new { Name = "two", BaseUrl = "http://127.0.0.1:9", Slots = 2 } } }),
            "section removed" => Json(new { Routing = new { MaxQueueSeconds = 7 } }),
            _ => "{}",
        });
        await Poll.UntilAsync(() => gate.RejectedReloads > 0, "the edit to be refused", ReloadBound);

        var log = gateway.Logs.All;
        Assert.Contains("Warning LlamaGateway.Hosting.ConfigurationReloadGate: Configuration change refused, the last good configuration stays in force", log);
        Assert.Contains("would open the model API", log);
        Assert.Contains("alice, bob", log);
        Assert.Contains("restart", log);
        Assert.DoesNotContain(AliceKey, log);
        Assert.Equal(42, gateway.Service<IOptionsMonitor<RoutingOptions>>().CurrentValue.MaxQueueSeconds);
        Assert.Equal(["one"], gateway.Service<UpstreamRegistry>().Instances.Select(i => i.Name));
        await AssertKeyedAsync(gateway);
    }

    [Fact]
    public async Task Reload_AdminKeyRemovedWithNoUsers_RefusedAndDashboardStillKeyed()
    {
        await using var upstream = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await ConfigFileGateway.StartAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)], new { AdminApiKey = AdminKey }));
        var gate = gateway.Service<ConfigurationReloadGate>();
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(gateway, null));

        await gateway.WriteAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)]));
        await Poll.UntilAsync(() => gate.RejectedReloads > 0, "the edit to be refused", ReloadBound);

        Assert.Contains("removes the admin key while no users are configured", gateway.Logs.All);
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(gateway, null));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(gateway, AdminKey));
    }

    [Fact]
    public async Task Reload_KeysReplaced_NewKeysWorkOldOnesDoNot()
    {
        await using var upstream = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await ConfigFileGateway.StartAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)], new { Users = AliceAndBob }));
        await AssertKeyedAsync(gateway);

        const string newAlice = "alice-new-key-9876543210";
        await gateway.WriteAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)], new
        {
            Users = new object[] { new { Name = "alice", ApiKey = newAlice }, new { Name = "bob", ApiKeySha256 = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes("bob-new-key-9876543210"))) } },
        }));
        await Poll.UntilAsync(() => SendAsync(gateway, newAlice).Result == HttpStatusCode.OK, "the new keys to apply", ReloadBound);

        Assert.Equal(HttpStatusCode.OK, await SendAsync(gateway, "bob-new-key-9876543210"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(gateway, AliceKey));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(gateway, BobKey));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(gateway, null));
        Assert.Contains("API keys reloaded: 2 user(s) (alice, bob)", gateway.Logs.All);
        Assert.DoesNotContain(newAlice, gateway.Logs.All);
    }

    [Fact]
    public async Task Reload_OneOfTwoUsersRemoved_AppliesAndTheOtherStillNeedsAKey()
    {
        await using var upstream = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await ConfigFileGateway.StartAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)], new { Users = AliceAndBob }));
        await AssertKeyedAsync(gateway);

        await gateway.WriteAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)], new { Users = new[] { new { Name = "alice", ApiKey = AliceKey } } }));
        await Poll.UntilAsync(() => SendAsync(gateway, BobKey).Result == HttpStatusCode.Unauthorized, "bob's key to be removed", ReloadBound);

        Assert.Equal(HttpStatusCode.OK, await SendAsync(gateway, AliceKey));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(gateway, null));
        Assert.Equal(0, gateway.Service<ConfigurationReloadGate>().RejectedReloads);
    }

    [Fact]
    public async Task Reload_AdminKeyRemovedWhileUsersRemain_AppliesAndNothingOpens()
    {
        await using var upstream = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await ConfigFileGateway.StartAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)], new { Users = AliceAndBob, AdminApiKey = AdminKey }));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(gateway, AdminKey));

        await gateway.WriteAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)], new { Users = AliceAndBob }));
        await Poll.UntilAsync(() => StatusAsync(gateway, AdminKey).Result == HttpStatusCode.Unauthorized, "the admin key to be removed", ReloadBound);

        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(gateway, null));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(gateway, AliceKey));
        await AssertKeyedAsync(gateway);
    }

    private static string Json(object gateway) => System.Text.Json.JsonSerializer.Serialize(new { Gateway = gateway });

    private static string UsersOnly(object[] users, int maxQueueSeconds) => Json(new { Users = users, Routing = new { MaxQueueSeconds = maxQueueSeconds } });

    private static async Task<HttpStatusCode> SendAsync(ConfigFileGateway gateway, string? key)
    {
        using var request = Traffic.Request(StreamPath.OpenAiPassThrough, stream: false);
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var response = await gateway.Client.SendAsync(request);
        return response.StatusCode;
    }

    private static async Task<HttpStatusCode> StatusAsync(ConfigFileGateway gateway, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/status.json");
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var response = await gateway.Client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>No key and a wrong key get 401; both users' keys work.</summary>
    private static async Task AssertKeyedAsync(ConfigFileGateway gateway)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(gateway, null));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(gateway, "not-a-key-0123456789"));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(gateway, AliceKey));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(gateway, BobKey));
    }

    /// <summary>
    /// Breaks the file in one step the watcher sees. The replacement's content is a valid edit that would remove
    /// bob, so a gateway that read it anyway would show it.
    /// </summary>
    private static async Task BreakAsync(string path, Breakage breakage)
    {
        var valid = UsersOnly([new { Name = "alice", ApiKey = AliceKey }], maxQueueSeconds: 7);
        switch (breakage)
        {
            case Breakage.Deleted:
                File.Delete(path);
                break;
            case Breakage.ReplacedByDirectory:
                File.Delete(path);
                Directory.CreateDirectory(path);
                break;
            case Breakage.Unreadable:
                await ReplaceAsync(path, Encoding.UTF8.GetBytes(valid), MakeUnreadable);
                break;
            case Breakage.InvalidUtf8:
                // Invalid bytes inside alice's key: a lenient reader would take it as a changed key.
                var text = Encoding.UTF8.GetBytes(valid.Replace(AliceKey, "alice-key-\u0001\u00020123456789", StringComparison.Ordinal));
                var at = Array.IndexOf(text, (byte)1);
                text[at] = 0xFF;
                text[at + 1] = 0xFE;
                await ReplaceAsync(path, text);
                break;
            case Breakage.TruncatedJson:
                await ReplaceAsync(path, Encoding.UTF8.GetBytes(valid[..(valid.Length / 2)]));
                break;
        }
    }

    /// <summary>
    /// Makes a file unreadable to this process. chmod 000 does not stop root (tests may run as root), so where reading
    /// still works the file becomes a symbolic link to /proc/self/mem, whose first page no process can read (EIO).
    /// </summary>
    private static void MakeUnreadable(string path)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.None);
        }

        if (CanRead(path))
        {
            File.Delete(path);
            File.CreateSymbolicLink(path, "/proc/self/mem");
        }

        Assert.False(CanRead(path), "the test could not make the file unreadable");
    }

    private static bool CanRead(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            _ = stream.ReadByte();
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static Task ReplaceAsync(string path, string text) => ReplaceAsync(path, Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Writes a file beside <paramref name="path"/> and renames it over what is there, in one step (as many editors
    /// save). Never writes through <paramref name="path"/>: it may be a link to /proc/self/mem.
    /// </summary>
    private static async Task ReplaceAsync(string path, byte[] content, Action<string>? prepare = null)
    {
        var temporary = path + ".tmp";
        await File.WriteAllBytesAsync(temporary, content);
        prepare?.Invoke(temporary);
        if (Directory.Exists(path))
        {
            Directory.Delete(path);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
