using System.Net;
using System.Net.Http.Headers;
using LlamaGateway.Hosting;
using LlamaGateway.Routing;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// Editing appsettings.json while the gateway runs: upstreams and users come and go without a restart; an invalid or
/// unparsable edit is rejected with a log line naming the problem and the last good configuration stays in force.
/// Real temporary file, real file watcher.
/// </summary>
public sealed class ConfigReloadTests
{
    private static readonly TimeSpan ReloadBound = TimeSpan.FromSeconds(15);

    private static string[] Names(ConfigFileGateway gateway) => gateway.Service<UpstreamRegistry>().Instances.Select(i => i.Name).ToArray();

    [Fact]
    public async Task Reload_UpstreamsAddedAndRemoved_AppliedWithoutRestart()
    {
        await using var first = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var second = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await ConfigFileGateway.StartAsync(ConfigFileGateway.Json([("one", first.BaseUrl)]));
        var kept = gateway.Service<UpstreamRegistry>().Instances[0];

        await gateway.WriteAsync(ConfigFileGateway.Json([("one", first.BaseUrl), ("two", second.BaseUrl)]));
        await Poll.UntilAsync(() => Names(gateway).SequenceEqual(["one", "two"]), "the second upstream to be added", ReloadBound);

        // An unchanged upstream keeps its runtime state across the reload.
        Assert.Same(kept, gateway.Service<UpstreamRegistry>().Instances[0]);

        await gateway.WriteAsync(ConfigFileGateway.Json([("two", second.BaseUrl)]));
        await Poll.UntilAsync(() => Names(gateway).SequenceEqual(["two"]), "the first upstream to be removed", ReloadBound);
        var before = first.Requests.Count;
        for (var i = 0; i < 3; i++)
        {
            using var response = await gateway.Client.SendAsync(Traffic.Request(StreamPath.OpenAiPassThrough, stream: false));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(before, first.Requests.Count);
        Assert.Equal(3, second.Requests.Count);
        Assert.Equal(["two"], gateway.Service<SlotRouter>().Snapshot().Instances.Select(i => i.Name));
        Assert.Contains("Configuration reloaded: 1 upstream(s): two", gateway.Logs.All);
    }

    [Theory]
    [InlineData("""{"Gateway":{"Upstreams":[{"Name":"one","BaseUrl":"not a url"}]}}""", "Gateway:Upstreams:0:BaseUrl")]
    [InlineData("""{"Gateway":{"Upstreams":[]}}""", "Gateway:Upstreams is empty")]
    [InlineData("""{"Gateway":{"Upstreams":[{"Name":"one","BaseUrl":"http://127.0.0.1:9","Slots":"many"}]}}""", "Gateway:Upstreams:0:Slots")]
    [InlineData("""{"Gateway":{"Upstreams":[{"Name":"one","BaseUrl":"http://127.0.0.1:9"},{"Name":"two","BaseUrl":"http://127.0.0.1:8","Slots":"many"}]}}""", "Gateway:Upstreams:1:Slots")]
    [InlineData("""{"Gateway":{"Upstreams":[{"Name":"one","BaseUrl":"http://127.0.0.1:9"}],"Timeouts":{"ConnectSeconds":"soon"}}}""", "Gateway:Timeouts:ConnectSeconds")]
    [InlineData("""{"Gateway":{"Upstreams":[{"Name":"one","BaseUrl":"http://127.0.0.1:9"}],"Health":{"FailureThreshold":0}}}""", "Gateway:Health:FailureThreshold")]
    [InlineData("""{"Gateway":{"Upstreams":[{"Name":"one","BaseUrl":"http://127.0.0.1:9"}],"Routing":{"MaxQueueSeconds":-1}}}""", "Gateway:Routing:MaxQueueSeconds")]
    [InlineData("""{"Gateway":{"Upstreams":[{"Name":"one","BaseUrl":"http://127.0.0.1:9"}],"Users":[{"Name":"alice","ApiKey":"short"}]}}""", "Gateway:Users:0")]
    public async Task Reload_InvalidEdit_RejectedNamingTheKeyAndLastGoodStays(string edit, string expectedInLog)
    {
        await using var upstream = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await ConfigFileGateway.StartAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)]));
        var gate = gateway.Service<ConfigurationReloadGate>();

        await gateway.WriteAsync(edit);
        await Poll.UntilAsync(() => gate.RejectedReloads > 0 && gateway.Logs.All.Contains(expectedInLog, StringComparison.Ordinal), "the edit to be rejected", ReloadBound);

        Assert.Contains("Configuration change rejected, the last good configuration stays in force", gateway.Logs.All);
        var options = gateway.Service<IOptionsMonitor<GatewayOptions>>().CurrentValue;
        Assert.Equal(upstream.BaseUrl, options.Upstreams[0].BaseUrl);
        Assert.Equal(300, gateway.Service<IOptionsMonitor<RoutingOptions>>().CurrentValue.MaxQueueSeconds);
        Assert.Equal(upstream.BaseUrl + "/", gateway.Service<UpstreamRegistry>().Instances.Single().BaseUri.AbsoluteUri);
        using (var response = await gateway.Client.SendAsync(Traffic.Request(StreamPath.OpenAiPassThrough, stream: false)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // A good edit after a bad one applies as usual.
        await gateway.WriteAsync(ConfigFileGateway.Json([("renamed", upstream.BaseUrl)]));
        await Poll.UntilAsync(() => Names(gateway).SequenceEqual(["renamed"]), "the next valid edit to apply", ReloadBound);
    }

    [Theory]
    [InlineData("{ \"Gateway\": { \"Upstreams\": [ ")]
    [InlineData("")]
    [InlineData("""{"Gateway":{"Upstreams":[{"Name":"one","Name":"two","BaseUrl":"http://127.0.0.1:9"}]}}""")]
    public async Task Reload_UnparsableFile_ReportedAndLastGoodStays(string edit)
    {
        await using var upstream = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await ConfigFileGateway.StartAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)], new { Routing = new { MaxQueueSeconds = 42 } }));

        await gateway.WriteAsync(edit);
        await Poll.UntilAsync(() => gateway.Logs.All.Contains("could not be read, the last good configuration stays in force", StringComparison.Ordinal), "the unparsable edit to be reported", ReloadBound);

        Assert.Equal(["one"], Names(gateway));
        Assert.Equal(42, gateway.Service<IOptionsMonitor<RoutingOptions>>().CurrentValue.MaxQueueSeconds);
        using (var response = await gateway.Client.SendAsync(Traffic.Request(StreamPath.OpenAiPassThrough, stream: false)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await gateway.WriteAsync(ConfigFileGateway.Json([("fixed", upstream.BaseUrl)]));
        await Poll.UntilAsync(() => Names(gateway).SequenceEqual(["fixed"]), "the repaired file to apply", ReloadBound);
    }

    [Fact]
    public async Task Reload_ValidUpstreamChangeWithInvalidRouting_NothingApplies()
    {
        await using var upstream = await KillableUpstream.StartAsync();
        await using var gateway = await ConfigFileGateway.StartAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)]));
        var gate = gateway.Service<ConfigurationReloadGate>();

        await gateway.WriteAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl), ("two", "http://127.0.0.1:9")], new { Routing = new { MaxConversations = 1 } }));
        await Poll.UntilAsync(() => gate.RejectedReloads > 0, "the edit to be rejected", ReloadBound);

        Assert.Equal(["one"], Names(gateway));
        Assert.Contains("Gateway:Routing:MaxConversations", gateway.Logs.All);
    }

    [Fact]
    public async Task Reload_UsersAddedToOpenGateway_KeysRequiredAndRemovingThemAllRefused()
    {
        await using var upstream = await KillableUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await ConfigFileGateway.StartAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)]));
        var gate = gateway.Service<ConfigurationReloadGate>();
        HttpRequestMessage Request(string? key)
        {
            var request = Traffic.Request(StreamPath.OpenAiPassThrough, stream: false);
            if (key is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            }

            return request;
        }

        using (var open = await gateway.Client.SendAsync(Request(null)))
        {
            Assert.Equal(HttpStatusCode.OK, open.StatusCode);
        }

        await gateway.WriteAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)], new { Users = new[] { new { Name = "alice", ApiKey = "alice-key-0123456789" } } }));
        await Poll.UntilAsync(() => gateway.Client.SendAsync(Request(null)).Result.StatusCode == HttpStatusCode.Unauthorized, "keys to be required", ReloadBound);
        using (var alice = await gateway.Client.SendAsync(Request("alice-key-0123456789")))
        {
            Assert.Equal(HttpStatusCode.OK, alice.StatusCode);
        }

        // Going back to open takes a restart: a reload that removes every user is refused.
        await gateway.WriteAsync(ConfigFileGateway.Json([("one", upstream.BaseUrl)]));
        await Poll.UntilAsync(() => gate.RejectedReloads > 0, "the edit to be refused", ReloadBound);
        using (var anonymous = await gateway.Client.SendAsync(Request(null)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        Assert.Contains("Configuration change refused", gateway.Logs.All);
    }

    [Fact]
    public async Task Start_InvalidConfigurationFile_FailsFastNamingTheKey()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            ConfigFileGateway.StartAsync("""{"Gateway":{"Upstreams":[{"Name":"one","BaseUrl":"ftp://nowhere"}],"Shutdown":{"DrainSeconds":-1}}}"""));

        Assert.Contains(error.Failures, f => f.Contains("Gateway:Upstreams:0:BaseUrl", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Gateway:Shutdown:DrainSeconds", StringComparison.Ordinal));
    }
}
