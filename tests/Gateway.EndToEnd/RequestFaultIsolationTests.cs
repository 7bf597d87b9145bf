using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using LlamaGateway.EndToEnd.Support;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.DependencyInjection;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// One user's bad requests must not cost another user anything. The real llama-server (no <c>--mmproj</c>, small
/// slots) answers an image with HTTP 500 <c>server_error</c>, as it does a tools entry without a function; a prompt
/// longer than a slot gets HTTP 400. While Alice sends bursts of such requests, which reach llama-server, Bob's
/// requests all succeed and the instance stays in routing: the gateway answers Alice 400 and never counts her errors
/// against the instance.
/// </summary>
[Trait("Category", "e2e")]
public sealed class RequestFaultIsolationTests(ITestOutputHelper output)
{
    private const string AliceKey = "sk-e2e-alice-4f1c9a7d3b2e6f08";
    private const string BobKey = "sk-e2e-bob-9d2e7c4a1f0b8e63";
    private const int ContextPerSlot = 2048;

    private static readonly string Image = JsonSerializer.Serialize(new
    {
        model = "claude-x",
        max_tokens = 8,
        messages = new object[]
        {
            new
            {
                role = "user",
                content = new object[]
                {
                    new { type = "text", text = "What is in this screenshot?" },
                    new { type = "image", source = new { type = "base64", media_type = "image/png", data = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==" } },
                },
            },
        },
    });

    private static readonly string ChatImage = """{"model":"m","max_tokens":8,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}}]}]}""";

    private const string ToolWithoutFunction = """{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function"}]}""";

    private static readonly string Overflow = JsonSerializer.Serialize(new
    {
        model = "claude-x",
        max_tokens = 8,
        messages = new[] { new { role = "user", content = string.Concat(Enumerable.Repeat("overflow ", ContextPerSlot * 2)) } },
    });

    private static HttpRequestMessage Post(string path, string key, string body, bool stream = false)
    {
        if (stream)
        {
            body = body.Insert(1, "\"stream\":true,");
        }

        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("x-api-key", key);
        if (path.StartsWith("/v1/messages", StringComparison.Ordinal))
        {
            request.Headers.Add("anthropic-version", "2023-06-01");
        }

        return request;
    }

    [Fact]
    public async Task Team_OneUserBurstsRequestsLlamaServerRejects_TheOthersAllSucceedAndTheInstanceStays()
    {
        var artifacts = Toolchain.ArtifactsFor(nameof(Team_OneUserBurstsRequestsLlamaServerRejects_TheOthersAllSucceedAndTheInstanceStays));
        await using var server = await LlamaServerFixture.StartAsync(new LlamaServerOptions { Slots = 4, ContextPerSlot = ContextPerSlot }, artifacts);

        // The premise: llama-server itself answers these with a 500, which used to count against the instance.
        using (var direct = await server.Client.PostAsync("/v1/chat/completions", new StringContent(ChatImage, Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.InternalServerError, direct.StatusCode);
            Assert.Contains("image input is not supported", await direct.Content.ReadAsStringAsync());
        }

        await using var gateway = await GatewayFixture.StartAsync([server], artifacts, new Dictionary<string, string?>
        {
            ["Gateway:Users:0:Name"] = "alice",
            ["Gateway:Users:0:ApiKey"] = AliceKey,
            ["Gateway:Users:1:Name"] = "bob",
            ["Gateway:Users:1:ApiKey"] = BobKey,
            ["Gateway:Health:FailureThreshold"] = "3",
        });
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(gateway.BaseUrl), Timeout = TimeSpan.FromMinutes(2) };
        var instance = gateway.App.Services.GetRequiredService<UpstreamRegistry>().Instances[0];

        (string Path, string Body, bool Stream)[] bad =
        [
            ("/v1/messages", Image, false),
            ("/v1/messages", Image, true),
            ("/v1/chat/completions", ChatImage, false),
            ("/v1/chat/completions", ChatImage, true),
            ("/v1/chat/completions", ToolWithoutFunction, false),
            ("/v1/messages", Overflow, true),
        ];
        var aliceAnswers = new List<(HttpStatusCode Status, string? ShouldRetry, string Type)>();
        var clock = Stopwatch.StartNew();
        var alice = Task.Run(async () =>
        {
            for (var burst = 0; burst < 6; burst++)
            {
                var answers = await Task.WhenAll(bad.Select(async b =>
                {
                    using var response = await client.SendAsync(Post(b.Path, AliceKey, b.Body, b.Stream));
                    var text = await response.Content.ReadAsStringAsync();
                    using var json = JsonDocument.Parse(text);
                    return (response.StatusCode, response.Headers.TryGetValues("x-should-retry", out var retry) ? retry.Single() : null,
                        json.RootElement.GetProperty("error").GetProperty("type").GetString()!);
                }));
                lock (aliceAnswers)
                {
                    aliceAnswers.AddRange(answers);
                }
            }
        });

        var bob = new List<HttpStatusCode>();
        var turn = 0;
        while (!alice.IsCompleted || bob.Count < 24)
        {
            var stream = turn % 2 == 1;
            var body = $$"""{"model":"claude-x","max_tokens":16,"messages":[{"role":"user","content":"Bob's question number {{turn.ToString(CultureInfo.InvariantCulture)}}"}]}""";
            using var response = await client.SendAsync(Post(turn % 3 == 2 ? "/v1/chat/completions" : "/v1/messages", BobKey, body, stream), HttpCompletionOption.ResponseHeadersRead);
            var text = await response.Content.ReadAsStringAsync();
            // A stream that ended with an error event counts as a failure even though its status was 200.
            var streamFailed = stream && (text.Contains("event: error", StringComparison.Ordinal) || text.Contains("data: {\"error\"", StringComparison.Ordinal));
            if (response.StatusCode != HttpStatusCode.OK || streamFailed)
            {
                output.WriteLine($"Bob's turn {turn}: HTTP {(int)response.StatusCode}: {text}");
            }

            bob.Add(streamFailed ? HttpStatusCode.BadGateway : response.StatusCode);
            turn++;
        }

        await alice;
        var logged = await gateway.WaitForRequestsAsync("/v1/messages", 1);
        var reachedLlama = gateway.Requests.Count(r => r.Failure?.Contains("could not process this request", StringComparison.Ordinal) == true);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{aliceAnswers.Count} bad requests from Alice ({reachedLlama} answered 500 by llama-server, {aliceAnswers.Count(a => a.Status == HttpStatusCode.BadRequest)} got 400), " +
            $"{bob.Count} requests from Bob ({bob.Count(s => s == HttpStatusCode.OK)} OK) in {clock.Elapsed.TotalSeconds:0.0} s; instance healthy {instance.IsHealthy}, outages {instance.Outages}, failures in a row {instance.ConsecutiveFailures}");
        output.WriteLine(summary);
        Measurements.Summarize(artifacts, nameof(Team_OneUserBurstsRequestsLlamaServerRejects_TheOthersAllSucceedAndTheInstanceStays), summary);

        Assert.Equal(bad.Length * 6, aliceAnswers.Count);
        Assert.All(aliceAnswers, a =>
        {
            Assert.Equal(HttpStatusCode.BadRequest, a.Status);
            Assert.Equal("false", a.ShouldRetry);
            Assert.Equal("invalid_request_error", a.Type);
        });

        // The image and tools requests went through the gateway to llama-server, which answered each with a 500.
        Assert.True(reachedLlama >= 5 * 6, summary);
        Assert.All(bob, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.True(instance.IsHealthy, summary);
        Assert.Equal(0, instance.Outages);
        Assert.Equal(0, instance.ConsecutiveFailures);
        Assert.NotEmpty(logged);
    }
}
