using System.Net;
using System.Text;
using System.Text.Json;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// Client-chosen text that ends up in an error (a property name, a number as written) is cut where the error is made,
/// so a request with an 8 MB property name costs a 400 of a kilobyte or two, and as little in the log and the
/// recent-errors list, instead of 8 MB in each.
/// </summary>
public sealed class ErrorTextBoundTests
{
    private const int HugeName = 8 * 1024 * 1024;

    /// <summary>Bodies whose error names a client-chosen string of about 8 MB, per route.</summary>
    public static TheoryData<string, string, string> Bodies()
    {
        var name = new string('k', HugeName);
        var escaped = string.Concat(Enumerable.Repeat("\\u0041", HugeName / 6));
        var data = new TheoryData<string, string, string>();
        foreach (var path in new[] { "/v1/messages", "/v1/chat/completions", "/completion" })
        {
            var required = path == "/completion" ? "\"prompt\":\"hi\"" : "\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
            data.Add(path, "duplicate key", $"{{{required},\"{name}\":1,\"{name}\":2}}");
            data.Add(path, "duplicate escaped key", $"{{{required},\"{escaped}\":1,\"{escaped}\":2}}");
            data.Add(path, "non-finite number under a huge key", $"{{{required},\"{name}\":{{\"x\":1e999}}}}");
            data.Add(path, "huge non-finite number", $"{{{required},\"temperature\":1{new string('0', HugeName)}}}");
            data.Add(path, "invalid JSON under a huge key", $"{{{required},\"{name}\":{{\"x\":tru}}}}");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task ErrorNamingHugeClientText_BodyAndLogStayedSmall(string path, string name, string body)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?> { ["Gateway:MaxRequestBodyBytes"] = (64 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture) });
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");

        using var response = await gateway.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True(text.Length < 4096, $"{name}: a {text.Length:N0}-char error body: {text[..Math.Min(300, text.Length)]}");
        using (var json = JsonDocument.Parse(text))
        {
            Assert.Contains("truncated", json.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        Assert.Empty(upstream.Requests);
        await Leaks.AssertNoneAsync(gateway);
        var longest = gateway.Logs.Lines.Max(line => line.Length);
        Assert.True(longest < 16 * 1024, $"{name}: a {longest:N0}-char log line");
    }
}
