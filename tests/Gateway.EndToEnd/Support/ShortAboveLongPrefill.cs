using System.Globalization;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>
/// The scheduling scenario both long-prefill strategies are judged on: a new conversation's ~10,000-token prompt is
/// sent to a real llama-server (bench model, 2 slots, <c>-b 512</c>) through the gateway, and once llama-server is
/// processing it a ~300-token prompt of another conversation follows, which lands on the higher slot. llama-server
/// fills batches slot by slot in index order, so unless the gateway intervenes the short prompt waits for the whole
/// long prefill.
/// </summary>
internal sealed record ShortAboveLongPrefill(StreamedTurn Short, StreamedTurn Long, PrefillReport Prefill, IReadOnlyList<string> Waited, string Summary)
{
    /// <summary>The long prompt's size as its response reports it.</summary>
    public long LongPrompt => Long.InputTokens + Long.CacheRead;

    /// <summary>Both prompts' sizes: what llama-server computes when no token is computed twice.</summary>
    public long BothPrompts => LongPrompt + Short.InputTokens + Short.CacheRead;

    /// <summary>Runs the scenario with <paramref name="routing"/> (Gateway:Routing keys) and checks both answers are whole.</summary>
    public static async Task<ShortAboveLongPrefill> RunAsync(string name, string label, IReadOnlyDictionary<string, string> routing, ITestOutputHelper output)
    {
        var artifacts = Toolchain.ArtifactsFor(name);
        await using var server = await LlamaServerFixture.StartAsync(new LlamaServerOptions
        {
            Model = Toolchain.BenchModel,
            Slots = 2,
            ContextPerSlot = 16384,
            ExtraArguments = ["-b", "512"],
        }, artifacts);
        var settings = new Dictionary<string, string?> { ["Gateway:Routing:MaxSlotsPerUser"] = "2" };
        foreach (var (key, value) in routing)
        {
            settings[$"Gateway:Routing:{key}"] = value;
        }

        await using var gateway = await GatewayFixture.StartAsync([server], artifacts, settings);
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(gateway.BaseUrl), Timeout = TimeSpan.FromMinutes(3) };
        var mark = await server.MarkAsync();

        var longTurn = StreamedTurn.SendAsync(client, StreamedTurn.Body("L", words: 5_000));
        await Poll.UntilAsync("llama-server to start the long prompt", TimeSpan.FromSeconds(30), async () =>
        {
            var metrics = await server.ReadMetricsAsync();
            return (metrics.RequestsProcessing >= 1, $"processing {metrics.RequestsProcessing}");
        });
        var shortTurn = await StreamedTurn.SendAsync(client, StreamedTurn.Body("S", words: 100));
        var longDone = await longTurn;
        var prefill = await server.MeasureSinceAsync(mark);
        var waited = (await gateway.WaitForRequestsAsync("/v1/messages", 2)).Select(r => r.Waited ?? "-").ToList();

        var longPrompt = longDone.InputTokens + longDone.CacheRead;
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{label}: short prompt's first event after {shortTurn.FirstEvent.TotalSeconds:0.00} s; long prompt {longPrompt} tokens, " +
            $"its answer after {longDone.Total.TotalSeconds:0.00} s (input {longDone.InputTokens}, cache read {longDone.CacheRead}); llama-server prefill " +
            $"{prefill.PromptSeconds:0.00} s; gateway [{string.Join(" | ", waited)}]; {prefill}");
        output.WriteLine(summary);
        Measurements.Summarize(artifacts, name, summary);

        Assert.True(longPrompt >= 8_000, $"the long prompt should be ~10,000 tokens: {summary}");
        Assert.Single(longDone.Text.Split('\n'), l => l == "event: message_start");
        Assert.Contains("event: message_stop", longDone.Text, StringComparison.Ordinal);
        Assert.Contains("event: message_stop", shortTurn.Text, StringComparison.Ordinal);
        return new ShortAboveLongPrefill(shortTurn, longDone, prefill, waited, summary);
    }
}
