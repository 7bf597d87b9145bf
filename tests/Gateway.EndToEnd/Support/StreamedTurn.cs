using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>
/// One streamed <c>/v1/messages</c> request sent over HTTP, as the scheduling tests send them: when its first event
/// came, when it ended, the whole stream, and the final usage it reported.
/// </summary>
internal sealed record StreamedTurn(TimeSpan FirstEvent, TimeSpan Total, string Text, long InputTokens, long CacheRead)
{
    public static async Task<StreamedTurn> SendAsync(HttpClient client, string body)
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
        return new StreamedTurn(first ?? clock.Elapsed, clock.Elapsed, all, Usage(all, "\"input_tokens\":"), Usage(all, "\"cache_read_input_tokens\":"));
    }

    /// <summary>A streamed request with a synthetic system prompt of <paramref name="words"/> words for <paramref name="conversation"/>.</summary>
    public static string Body(string conversation, int words) => new JsonObject
    {
        ["model"] = "claude-sonnet-4",
        ["max_tokens"] = 16,
        ["stream"] = true,
        ["system"] = SyntheticPrompt.System(conversation, words),
        ["tools"] = new JsonArray { new JsonObject { ["name"] = "Read", ["description"] = "Reads a file from disk.", ["input_schema"] = new JsonObject { ["type"] = "object" } } },
        ["messages"] = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = $"Conversation {conversation}: what does the build do?" } },
    }.ToJsonString();

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
}
