using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using LlamaGateway.EndToEnd.Support;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// A short prompt sent while a new conversation's ~10,000-token prompt is being processed on a lower slot of a real
/// llama-server (bench model, 2 slots, <c>-b 512</c>). llama-server fills batches slot by slot in index order, so
/// without a pause the short prompt's first token waits for the whole long prefill; with the gateway's pause it comes
/// after llama-server notices the cancelled request (it polls once a second) and processes the short prompt, and the
/// long request, sent again, continues from the tokens it had processed. Both variants run, which is what shows the
/// timing assertion can fail.
/// </summary>
[Trait("Category", "e2e")]
public sealed class PrefillPreemptionTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Messages_ShortPromptAboveLongPrefill_GetsItsFirstTokenBeforeTheLongPromptEndsOnlyWithPreemption(bool preempt)
    {
        var name = $"{nameof(Messages_ShortPromptAboveLongPrefill_GetsItsFirstTokenBeforeTheLongPromptEndsOnlyWithPreemption)}_{(preempt ? "On" : "Off")}";
        var artifacts = Toolchain.ArtifactsFor(name);
        await using var server = await LlamaServerFixture.StartAsync(new LlamaServerOptions
        {
            Model = Toolchain.BenchModel,
            Slots = 2,
            ContextPerSlot = 16384,
            ExtraArguments = ["-b", "512"],
        }, artifacts);
        await using var gateway = await GatewayFixture.StartAsync([server], artifacts, new Dictionary<string, string?>
        {
            ["Gateway:Routing:PreemptLongPrefills"] = preempt ? "true" : "false",
            ["Gateway:Routing:MaxSlotsPerUser"] = "2",
        });
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(gateway.BaseUrl), Timeout = TimeSpan.FromMinutes(3) };
        var mark = await server.MarkAsync();

        var longTurn = StreamAsync(client, Body("L", words: 5_000));
        await Poll.UntilAsync("llama-server to start the long prompt", TimeSpan.FromSeconds(30), async () =>
        {
            var metrics = await server.ReadMetricsAsync();
            return (metrics.RequestsProcessing >= 1, $"processing {metrics.RequestsProcessing}");
        });
        var shortTurn = await StreamAsync(client, Body("S", words: 100));
        var longDone = await longTurn;
        var prefill = await server.MeasureSinceAsync(mark);
        var waited = (await gateway.WaitForRequestsAsync("/v1/messages", 2)).Select(r => r.Waited ?? "-").ToList();

        var longPrompt = longDone.InputTokens + longDone.CacheRead;
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"preemption {(preempt ? "on" : "off")}: short prompt's first event after {shortTurn.FirstEvent.TotalSeconds:0.00} s; long prompt {longPrompt} tokens, " +
            $"its answer after {longDone.Total.TotalSeconds:0.00} s (input {longDone.InputTokens}, cache read {longDone.CacheRead}); llama-server prefill " +
            $"{prefill.PromptSeconds:0.00} s; gateway waits [{string.Join(" | ", waited)}]; {prefill}");
        output.WriteLine(summary);
        Measurements.Summarize(artifacts, name, summary);

        Assert.True(longPrompt >= 8_000, $"the long prompt should be ~10,000 tokens: {summary}");
        Assert.Single(longDone.Text.Split('\n'), l => l == "event: message_start");
        Assert.Contains("event: message_stop", longDone.Text, StringComparison.Ordinal);
        Assert.Contains("event: message_stop", shortTurn.Text, StringComparison.Ordinal);

        // The short prompt is ~300 tokens: a fraction of a second of prefill of its own.
        var longPrefillSeconds = prefill.PromptSeconds;
        if (preempt)
        {
            Assert.True(shortTurn.FirstEvent.TotalSeconds < 0.4 * longPrefillSeconds,
                $"paused, the long prefill should not hold up the short prompt's first token: {summary}");
            Assert.Contains(waited, w => w.Contains("for shorter prompts (1x)", StringComparison.Ordinal));

            // Sent again, the long request continued from what its first attempt processed: no token re-computed twice.
            Assert.True(longDone.CacheRead > 0, $"the resent long prompt should reuse the tokens processed before the pause: {summary}");
            Assert.True(prefill.RecomputedTokens <= (longPrompt + shortTurn.InputTokens + shortTurn.CacheRead) * 1.05,
                $"llama-server should re-compute each prompt token once: {summary}");
        }
        else
        {
            Assert.True(shortTurn.FirstEvent.TotalSeconds >= 0.4 * longPrefillSeconds,
                $"without the pause llama-server fills every batch with the lower slot's prompt first: {summary}");
            Assert.DoesNotContain(waited, w => w.Contains("shorter prompts", StringComparison.Ordinal));
        }
    }

    private sealed record Turn(TimeSpan FirstEvent, TimeSpan Total, string Text, long InputTokens, long CacheRead);

    private static async Task<Turn> StreamAsync(HttpClient client, string body)
    {
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var text = new StringBuilder();
        TimeSpan? first = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            first ??= line.StartsWith("event:", StringComparison.Ordinal) ? clock.Elapsed : null;
            text.Append(line).Append('\n');
        }

        var all = text.ToString();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {all}");
        return new Turn(first ?? clock.Elapsed, clock.Elapsed, all, Usage(all, "\"input_tokens\":"), Usage(all, "\"cache_read_input_tokens\":"));
    }

    /// <summary>The last value of a usage field in the stream (message_delta carries the final usage).</summary>
    private static long Usage(string stream, string field)
    {
        var at = stream.LastIndexOf(field, StringComparison.Ordinal);
        if (at < 0)
        {
            return 0;
        }

        var start = at + field.Length;
        var end = start;
        while (end < stream.Length && char.IsAsciiDigit(stream[end]))
        {
            end++;
        }

        return long.Parse(stream.AsSpan(start, end - start), CultureInfo.InvariantCulture);
    }

    private static string Body(string conversation, int words) => new JsonObject
    {
        ["model"] = "claude-sonnet-4",
        ["max_tokens"] = 16,
        ["stream"] = true,
        ["system"] = SyntheticPrompt.System(conversation, words),
        ["tools"] = new JsonArray { new JsonObject { ["name"] = "Read", ["description"] = "Reads a file from disk.", ["input_schema"] = new JsonObject { ["type"] = "object" } } },
        ["messages"] = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = $"Conversation {conversation}: what does the build do?" } },
    }.ToJsonString();
}
