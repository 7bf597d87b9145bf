using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Browser;

/// <summary>
/// A running gateway with a team of three behind it and two fake llama-servers, after a few minutes' worth of
/// traffic compressed into seconds (one chart point per second), with two requests still running so the dashboard
/// has busy slots to show. Shared by the browser tests, which only read.
/// </summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    private const int Waves = 10;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Task<HttpResponseMessage>> _held = [];
    private FakeUpstream? _gpu1;
    private FakeUpstream? _gpu2;
    private GatewayProcess? _gateway;
    private HttpClient? _client;

    // The held turns have no client timeout: they must stay running for however long the browser tests take (a slow
    // Chromium start once made them time out after 30 s, freeing the slots the dashboard test counts); they end when
    // the fixture releases them.
    private HttpClient? _holdClient;

    public string BaseUrl => _gateway!.BaseUrl;

    public IEnumerable<string> GatewayOutput => _gateway!.Output;

    public async Task InitializeAsync()
    {
        if (!ChromiumFactAttribute.Installed)
        {
            // Nothing to show a page to; the tests skip (or, in CI, fail with the install command).
            return;
        }

        _gpu1 = await FakeUpstream.StartAsync((http, request) => TeamTraffic.AnswerAsync(http, request, _release.Task));
        _gpu2 = await FakeUpstream.StartAsync((http, request) => TeamTraffic.AnswerAsync(http, request, _release.Task));
        _gpu1.TotalSlots = 8;
        _gpu2.TotalSlots = 2;
        _gateway = await GatewayProcess.StartAsync(new
        {
            Gateway = new
            {
                Upstreams = new object[]
                {
                    new { Name = "gpu-1", BaseUrl = _gpu1.BaseUrl, Dialect = "openai", Slots = 8 },
                    new { Name = "gpu-2", BaseUrl = _gpu2.BaseUrl, Dialect = "openai", Slots = 2 },
                },
                Users = new object[]
                {
                    new { Name = "alice", ApiKey = TeamTraffic.AliceKey },
                    new { Name = "bob", ApiKey = TeamTraffic.BobKey },
                    new { Name = "carol", ApiKeySha256 = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(TeamTraffic.CarolKey))) },
                },
                AdminApiKey = TeamTraffic.AdminKey,
                Status = new { SampleSeconds = 1, HistoryMinutes = 2 },
            },
            Serilog = new { MinimumLevel = new { Default = "Information", Override = new Dictionary<string, string> { ["Microsoft"] = "Warning", ["Microsoft.Hosting.Lifetime"] = "Information", ["System"] = "Warning" } } },
        });
        _client = new HttpClient { BaseAddress = new Uri(_gateway.BaseUrl), Timeout = Bound };
        _holdClient = new HttpClient { BaseAddress = new Uri(_gateway.BaseUrl), Timeout = Timeout.InfiniteTimeSpan };
        try
        {
            await SendTrafficAsync();
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException($"Sending the traffic failed: {ex.Message}\nGateway output:\n{string.Join('\n', _gateway.Output)}", ex);
        }
    }

    public async Task DisposeAsync()
    {
        _release.TrySetResult();
        foreach (var held in _held)
        {
            try
            {
                (await held.WaitAsync(Bound)).Dispose();
            }
            catch (Exception ex) when (ex is HttpRequestException or TimeoutException or TaskCanceledException)
            {
                // The gateway is going away anyway.
            }
        }

        _client?.Dispose();
        _holdClient?.Dispose();
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        foreach (var upstream in new[] { _gpu1, _gpu2 })
        {
            if (upstream is not null)
            {
                await upstream.DisposeAsync();
            }
        }
    }

    private async Task SendTrafficAsync()
    {
        var users = new[] { ("alice", TeamTraffic.AliceKey), ("bob", TeamTraffic.BobKey), ("carol", TeamTraffic.CarolKey) };
        for (var wave = 1; wave <= Waves; wave++)
        {
            var points = await ChartPointsAsync();
            foreach (var (user, key) in users)
            {
                // Staggered starts: carol joins later, so the chart shows a cold start after warm turns.
                var turn = user == "carol" ? wave - 4 : user == "bob" ? wave - 1 : wave;
                if (turn >= 1)
                {
                    await SendAsync(TeamTraffic.ChatTurn(key, user, turn));
                }
            }

            if (wave % 3 == 0)
            {
                await SendAsync(TeamTraffic.QuotaProbe(TeamTraffic.BobKey));
            }

            if (wave == 6)
            {
                await SendAsync(TeamTraffic.Failing(TeamTraffic.CarolKey));
            }

            // One chart point per wave: wait for the gateway's sampler to close the interval (it ticks each second).
            await WaitForAsync(async () => await ChartPointsAsync() > points, "the next chart point");
        }

        // Two turns still running when the page is looked at.
        _held.Add(_holdClient!.SendAsync(TeamTraffic.ChatTurn(TeamTraffic.AliceKey, "alice", Waves + 1, hold: true)));
        _held.Add(_holdClient.SendAsync(TeamTraffic.ChatTurn(TeamTraffic.BobKey, "bob", Waves, hold: true)));
        await WaitForAsync(async () =>
        {
            using var status = await StatusAsync();
            return status.RootElement.GetProperty("totals").GetProperty("busySlots").GetInt32() == 2;
        }, "two busy slots");
    }

    // Outcomes are not asserted here: the dashboard shows failures too, and the tests check what it shows.
    private async Task SendAsync(HttpRequestMessage request)
    {
        using var response = await _client!.SendAsync(request);
        await response.Content.ReadAsStringAsync();
    }

    private async Task<JsonDocument> StatusAsync()
    {
        using var response = await _client!.SendAsync(TeamTraffic.Get("/status.json", TeamTraffic.AdminKey));
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }

    private async Task<int> ChartPointsAsync()
    {
        using var status = await StatusAsync();
        return status.RootElement.GetProperty("series").GetProperty("points").GetArrayLength();
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            await Task.Delay(50);
        }
    }
}
