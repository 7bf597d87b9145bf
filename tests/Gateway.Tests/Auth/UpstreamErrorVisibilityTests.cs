using System.Net;
using System.Text.Json;
using LlamaGateway.Tests.Support;
using LlamaGateway.Upstreams;
using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Tests.Auth;

/// <summary>
/// An upstream's answer to one user's request is that user's (and the admin's) to see: another user meets the
/// instance's state in the gateway's own words, in a 503 and in /status.json.
/// </summary>
public sealed class UpstreamErrorVisibilityTests
{
    private const string Secret = "alice-private-text-7c41: the contents of ~/work/secret-plan.md";

    private static Dictionary<string, string?> Settings() => new()
    {
        ["Gateway:Health:FailureThreshold"] = "1",
        ["Gateway:Health:IntervalSeconds"] = "600",
        ["Gateway:Health:UnhealthyIntervalSeconds"] = "600",
    };

    [Fact]
    public async Task Status_InstanceTakenOutByAnotherUsersFailure_UserSeesNeitherItsTextNorItInA503_AdminSeesIt()
    {
        // Real trouble (it counts), and its message quotes Alice's request, as llama-server's messages can.
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            http.Response.StatusCode = StatusCodes.Status500InternalServerError;
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(JsonSerializer.Serialize(new { error = new { code = 500, message = "slot crashed while reading " + Secret, type = "server_error" } }));
        });
        await using var gateway = await TeamGateway.StartAsync(upstream, Settings(), dialect: "openai");
        await gateway.WaitForStartupProbeAsync();

        using (var alice = await gateway.Client.SendAsync(TeamGateway.Request("/v1/messages", TeamGateway.AliceKey)))
        {
            Assert.Contains(Secret, await alice.Content.ReadAsStringAsync());
        }

        Assert.False(gateway.Service<UpstreamRegistry>().Instances[0].IsHealthy);
        await TeamGateway.EventuallyAsync(() => gateway.Service<Usage.RecentErrors>().Total == 1, "Alice's failure to be listed");

        foreach (var route in new[] { "/v1/messages", "/v1/chat/completions" })
        {
            using var bob = await gateway.Client.SendAsync(TeamGateway.Request(route, TeamGateway.BobKey));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, bob.StatusCode);
            var text = await bob.Content.ReadAsStringAsync();
            Assert.DoesNotContain("alice-private", text);
            Assert.Contains("'fake'", text);
            Assert.Contains("HTTP 500", text);
        }

        using (var bobStatus = await gateway.Client.SendAsync(TeamGateway.Get("/status.json", TeamGateway.BobKey)))
        {
            var text = await bobStatus.Content.ReadAsStringAsync();
            Assert.DoesNotContain("alice-private", text);
            using var document = JsonDocument.Parse(text);
            var instance = document.RootElement.GetProperty("instances")[0];
            Assert.False(instance.GetProperty("healthy").GetBoolean());
            Assert.Contains("HTTP 500", instance.GetProperty("lastError").GetString());
        }

        using (var aliceStatus = await gateway.Client.SendAsync(TeamGateway.Get("/status.json", TeamGateway.AliceKey)))
        {
            // Alice sees her own request's error in her recent errors, but not in the instance's state everyone sees.
            using var document = JsonDocument.Parse(await aliceStatus.Content.ReadAsStringAsync());
            Assert.DoesNotContain("alice-private", document.RootElement.GetProperty("instances")[0].GetProperty("lastError").GetString());
            Assert.Contains(document.RootElement.GetProperty("recentErrors").EnumerateArray(), e => e.GetProperty("message").GetString()!.Contains(Secret, StringComparison.Ordinal));
        }

        using (var adminStatus = await gateway.Client.SendAsync(TeamGateway.Get("/status.json", TeamGateway.AdminKey)))
        {
            using var document = JsonDocument.Parse(await adminStatus.Content.ReadAsStringAsync());
            Assert.Contains(Secret, document.RootElement.GetProperty("instances")[0].GetProperty("lastError").GetString());
        }
    }
}
