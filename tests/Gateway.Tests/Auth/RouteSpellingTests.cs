using System.Text;
using System.Text.Json;
using LlamaGateway.Errors;
using LlamaGateway.Hosting;
using LlamaGateway.Metrics;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace LlamaGateway.Tests.Auth;

/// <summary>
/// Walks every model route in every spelling a client can put on the wire (trailing and doubled slashes, case, dot
/// segments plain and percent-encoded, escaped letters and slashes, query strings, absolute form) and checks the
/// promises that hang on the route table: without a key nothing is served or forwarded; with a key whatever is served
/// is capped and counted under its route's own label; anything else is a 404 behind the same key check.
/// </summary>
public sealed class RouteSpellingTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Hold = "hold this one";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Task<HttpResponseMessage>> _held = [];
    private FakeUpstream _upstream = null!;
    private GatewayHost _gateway = null!;

    /// <summary>Each model route (and /v1/models), how it is called, and the upstream path it must arrive on.</summary>
    public static TheoryData<string> Routes => new() { "/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions", "/completion", "/v1/models" };

    public async Task InitializeAsync()
    {
        _upstream = await FakeUpstream.StartAsync(async (http, request) =>
        {
            if (request.BodyText.Contains(Hold, StringComparison.Ordinal))
            {
                await _release.Task.WaitAsync(http.RequestAborted);
            }

            if (request.Path == "/v1/models")
            {
                await http.Response.WriteAsJsonAsync(new { data = new[] { new { id = "fake" } } });
                return;
            }

            await TeamGateway.AnswerAsync(http, request);
        });

        // One place per user on each cap and no queue: alice holds both of hers for the whole walk, so every request
        // of hers that reaches a capped route must be refused with 429 (a 200 would be an uncapped way in).
        _gateway = await TeamGateway.StartAsync(_upstream, new Dictionary<string, string?>
        {
            ["Gateway:Limits:MaxConcurrentRequestsPerUser"] = "1",
            ["Gateway:Limits:QueueLimit"] = "0",
            ["Gateway:Limits:CountTokens:MaxConcurrentRequestsPerUser"] = "1",
            ["Gateway:Limits:CountTokens:QueueLimit"] = "0",
            ["Gateway:Limits:MaxFailedKeyAttempts"] = "0",
        }, dialect: "openai");
        foreach (var path in new[] { "/v1/messages", "/v1/messages/count_tokens" })
        {
            _held.Add(_gateway.Client.SendAsync(TeamGateway.Request(path, TeamGateway.AliceKey, body: HeldBody(path))));
        }

        await Eventually.TrueAsync(() => _upstream.Requests.Count == 2, Bound);
    }

    public async Task DisposeAsync()
    {
        _release.TrySetResult();
        foreach (var held in _held)
        {
            (await held.WaitAsync(Bound)).Dispose();
        }

        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task ModelRoute_EverySpelling_KeyRequiredCappedAndMeteredUnderItsLabel(string path)
    {
        var served = new List<string>();
        foreach (var target in Spellings(path, new Uri(_gateway.BaseUrl).Authority))
        {
            var before = _upstream.Requests.Count;
            var anonymous = await SendAsync(path, target, key: null);
            if (anonymous.Status == 400 && anonymous.Body.Length == 0)
            {
                // Kestrel refused the request line before routing: no endpoint sees it, with a key or without.
                Assert.Equal(400, (await SendAsync(path, target, TeamGateway.BobKey)).Status);
                Assert.Equal(before, _upstream.Requests.Count);
                output.WriteLine($"{target}: rejected by Kestrel");
                continue;
            }

            Assert.True(anonymous.Status == 401, $"{target} without a key: {anonymous.Status} {anonymous.Body}");
            AssertErrorDialect(path, anonymous, ApiErrorKind.Authentication);
            Assert.Equal(before, _upstream.Requests.Count);

            var label = await MeteredLabelAsync(() => SendAsync(path, target, TeamGateway.BobKey), "bob");
            var bob = label.Response;
            Assert.True(bob.Status is 200 or 404, $"{target} with bob's key: {bob.Status} {bob.Body}");
            if (bob.Status == 404)
            {
                Assert.Equal(GatewayRoute.OtherLabel, label.Label);
                Assert.Equal(before, _upstream.Requests.Count);
                AssertErrorDialect(path, bob, ApiErrorKind.NotFound);
                output.WriteLine($"{target}: 404");
                continue;
            }

            served.Add(target);
            Assert.Equal(path, label.Label);
            Assert.True(_upstream.Requests.Count == before + 1, $"{target} with bob's key was not forwarded once");
            Assert.Equal(UpstreamPath(path), _upstream.Requests.Last().Path.Split('?')[0]);

            // Alice holds her places: a served spelling must be capped like the canonical one.
            if (path != "/v1/models")
            {
                var alice = await MeteredLabelAsync(() => SendAsync(path, target, TeamGateway.AliceKey), "alice");
                Assert.True(alice.Response.Status == 429, $"{target} with alice's key: {alice.Response.Status} {alice.Response.Body}");
                Assert.Equal(path, alice.Label);
                AssertErrorDialect(path, alice.Response, ApiErrorKind.RateLimited);
                Assert.Equal(before + 1, _upstream.Requests.Count);
            }

            output.WriteLine($"{target}: served");
        }

        // The walk must have exercised the spellings the router folds onto the route, not only 404s.
        foreach (var expected in new[] { path, path + "/", path.ToUpperInvariant(), path + "/.", "/x/.." + path, EscapeFirstLetter(path) })
        {
            Assert.Contains(expected, served);
        }
    }

    [Theory]
    [InlineData("GET", "/v1/messages")]
    [InlineData("PUT", "/v1/messages/")]
    [InlineData("DELETE", "/v1/messages/count_tokens")]
    [InlineData("HEAD", "/v1/chat/completions")]
    [InlineData("OPTIONS", "/completion")]
    [InlineData("PATCH", "/COMPLETION/")]
    [InlineData("POST", "/v1/models")]
    [InlineData("GET", "/v1/messages/batches")]
    [InlineData("POST", "/v1/completions")]
    [InlineData("GET", "/")]
    [InlineData("POST", "/api/hello")]
    [InlineData("POST", "/healthz")]
    [InlineData("GET", "/favicon.ico")]
    [InlineData("GET", "/v1")]
    [InlineData("POST", "/slots/0?action=erase")]
    [InlineData("GET", "/props")]
    public async Task OtherMethodOrPath_NeedsKeyThen404InDialectAndIsNeverForwarded(string method, string target)
    {
        var path = target.Split('?')[0].ToLowerInvariant().TrimEnd('/');
        var before = _upstream.Requests.Count;
        var headers = Anthropic(path) ? new List<string> { "anthropic-version: 2023-06-01" } : [];

        var anonymous = await RawHttp.SendAsync(_gateway.BaseUrl, method, target, headers);
        var keyed = await RawHttp.SendAsync(_gateway.BaseUrl, method, target, [.. headers, $"x-api-key: {TeamGateway.BobKey}"]);

        Assert.Equal(401, anonymous.Status);
        Assert.Equal(404, keyed.Status);
        if (method != "HEAD")
        {
            AssertErrorDialect(path, anonymous, ApiErrorKind.Authentication);
            AssertErrorDialect(path, keyed, ApiErrorKind.NotFound);
        }

        Assert.Equal(before, _upstream.Requests.Count);
    }

    [Fact]
    public void RouteTable_EveryEndpoint_CarriesGatewayRoute()
    {
        var endpoints = _gateway.App.Services.GetServices<EndpointDataSource>().SelectMany(source => source.Endpoints).ToList();

        Assert.NotEmpty(endpoints);
        Assert.All(endpoints, endpoint => Assert.NotNull(endpoint.Metadata.GetMetadata<GatewayRoute>()));
        var model = endpoints.Select(e => e.Metadata.GetMetadata<GatewayRoute>()!).Where(r => r.Route is not null).ToList();
        Assert.Equal(Enum.GetValues<ApiRoute>().Length, model.Count);
        Assert.All(model, route => Assert.Equal(RouteAccess.UserKey, route.Access));
        Assert.All(model, route => Assert.NotEqual(UserLimitPolicy.None, route.Limit));
    }

    /// <summary>Spellings of <paramref name="path"/> that name the same resource (none climbs above the path with "..").</summary>
    private static IEnumerable<string> Spellings(string path, string authority)
    {
        yield return path;
        yield return path + "/";
        yield return path + "//";
        yield return path.ToUpperInvariant();
        yield return string.Concat(path.Select((c, i) => i % 2 == 0 ? char.ToUpperInvariant(c) : c));
        yield return path + "/.";
        yield return path + "/./";
        yield return path + "/%2E";
        yield return path + "/%2e/";
        yield return "/." + path;
        yield return "/x/.." + path;
        yield return "/x/%2E%2E" + path;
        yield return "/" + path;
        yield return path.Replace("/", "//", StringComparison.Ordinal);
        yield return path + "/x/..";
        yield return EscapeFirstLetter(path);
        yield return string.Concat(path.Select(c => c == '/' ? "/" : $"%{(int)c:X2}"));
        yield return "/" + path[1..].Replace("/", "%2F", StringComparison.Ordinal);
        yield return "/" + path[1..].Replace("/", "%2f", StringComparison.Ordinal);
        yield return path + "%2F";
        yield return path + "?beta=true";
        yield return path + "/?beta=true";
        yield return path + ";x";
        yield return path + "%20";
        yield return path + "%00";
        yield return path.Replace("/", "\\", StringComparison.Ordinal);
        yield return "http://" + authority + path;
        yield return "http://" + authority + path.ToUpperInvariant() + "/";
    }

    private static string EscapeFirstLetter(string path)
    {
        var at = path.LastIndexOf('/') + 1;
        return path[..at] + $"%{(int)path[at]:X2}" + path[(at + 1)..];
    }

    private static string HeldBody(string path) => path.StartsWith("/v1/messages", StringComparison.Ordinal)
        ? $$"""{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","content":"{{Hold}}"}]}"""
        : $$"""{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"{{Hold}}"}]}""";

    private static string UpstreamPath(string path) => path == "/v1/messages" ? "/v1/chat/completions" : path;

    private static bool Anthropic(string path) => path.StartsWith("/v1/messages", StringComparison.Ordinal);

    private Task<RawResponse> SendAsync(string path, string target, string? key)
    {
        var headers = new List<string>();
        if (Anthropic(path))
        {
            headers.Add("anthropic-version: 2023-06-01");
        }

        if (key is not null)
        {
            headers.Add($"x-api-key: {key}");
        }

        var body = path switch
        {
            "/v1/models" => string.Empty,
            "/completion" => """{"prompt":"hello","n_predict":8}""",
            _ when Anthropic(path) => TeamGateway.MessagesBody,
            _ => TeamGateway.ChatBody,
        };
        return RawHttp.SendAsync(_gateway.BaseUrl, path == "/v1/models" ? "GET" : "POST", target, headers, body);
    }

    /// <summary>Sends a request and finds the one request-metrics label whose count for <paramref name="user"/> went up.</summary>
    private async Task<(RawResponse Response, string Label)> MeteredLabelAsync(Func<Task<RawResponse>> send, string user)
    {
        var metrics = _gateway.Service<RequestMetrics>();
        var before = Counts(metrics, user);
        var response = await send();

        // The count is taken as the request ends, just after the client has its response.
        string? label = null;
        await Eventually.TrueAsync(() =>
        {
            var grown = Counts(metrics, user).Where(pair => pair.Value > before.GetValueOrDefault(pair.Key)).ToList();
            label = grown.Count == 1 && grown[0].Key.Status == response.Status ? grown[0].Key.Route : null;
            return label is not null;
        }, Bound);
        return (response, label!);
    }

    private static Dictionary<(string Route, int Status), long> Counts(RequestMetrics metrics, string user) =>
        metrics.Requests().Where(r => r.User == user).ToDictionary(r => (r.Route, r.Status), r => r.Count);

    private static void AssertErrorDialect(string path, RawResponse response, ApiErrorKind kind)
    {
        using var error = JsonDocument.Parse(response.Body);
        var type = Anthropic(path) ? ApiErrorWriter.AnthropicType(kind) : ApiErrorWriter.OpenAiType(kind);
        Assert.Equal(type, error.RootElement.GetProperty("error").GetProperty("type").GetString());
        if (Anthropic(path))
        {
            Assert.Equal("error", error.RootElement.GetProperty("type").GetString());
        }
        else
        {
            Assert.False(error.RootElement.TryGetProperty("type", out _));
        }
    }
}
