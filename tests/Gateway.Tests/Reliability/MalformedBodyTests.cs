using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// Request bodies broken at the HTTP level, written byte for byte on a raw socket (HttpClient would never send them):
/// bad chunk sizes, missing chunk terminators, truncated bodies, a Content-Length that disagrees with what follows.
/// A malformed body gets a 400 (in the caller's dialect once the gateway is reading it), a truncated one never a 5xx
/// or a hang; none reaches the upstream, and the gateway keeps serving.
/// </summary>
public sealed class MalformedBodyTests
{
    // Past Kestrel's 5 s grace for the minimum request body data rate.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private const string Json = """{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}""";

    /// <summary>Framing and body bytes after the request line and the Host header, complete but wrong.</summary>
    public static TheoryData<string, string, string> Malformed()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var path in new[] { "/v1/messages", "/v1/chat/completions", "/completion" })
        {
            data.Add(path, "chunk size overflows", "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\n" + Json + "\r\n0\r\n\r\n");
            data.Add(path, "chunk size overflows int", "Transfer-Encoding: chunked\r\n\r\n80000000\r\n" + Json + "\r\n0\r\n\r\n");
            data.Add(path, "chunk size not hex", "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + Json + "\r\n0\r\n\r\n");
            data.Add(path, "chunk size negative", "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n");
            data.Add(path, "chunk size empty", "Transfer-Encoding: chunked\r\n\r\n\r\n" + Json + "\r\n0\r\n\r\n");
            data.Add(path, "chunk data without CRLF", "Transfer-Encoding: chunked\r\n\r\n" + Hex(Json) + "\r\n" + Json + "XX0\r\n\r\n");
            data.Add(path, "chunk size line without LF", "Transfer-Encoding: chunked\r\n\r\n" + Hex(Json) + "\r" + Json + "\r\n0\r\n\r\n");
            data.Add(path, "content-length shorter than the body", $"Content-Length: {Json.Length - 10}\r\n\r\n" + Json);
            data.Add(path, "content-length not a number", "Content-Length: abc\r\n\r\n" + Json);
            data.Add(path, "content-length negative", "Content-Length: -5\r\n\r\n" + Json);
            data.Add(path, "content-length twice, different", $"Content-Length: {Json.Length}\r\nContent-Length: 3\r\n\r\n" + Json);
            data.Add(path, "content-length and chunked", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task MalformedBody_RawSocket_Gets400InTheCallersDialect(string path, string name, string framing)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl);
        var uri = new Uri(gateway.BaseUrl);

        var (status, body) = await SendRawAsync(uri, Head(path, uri) + framing, halfClose: false);

        Assert.True(status == 400, $"{name}: HTTP {status} {body}");
        Assert.Empty(upstream.Requests);

        // Kestrel answers framing it cannot parse at all (a bad Content-Length: before any endpoint runs) with its own
        // empty 400; a body that breaks while the gateway reads it gets the gateway's error, in the caller's dialect.
        if (body.Length > 0 || framing.Contains("chunked", StringComparison.Ordinal) && !framing.Contains("Content-Length", StringComparison.Ordinal))
        {
            AssertInvalidRequest(body, path);
        }

        await AssertStillServingAsync(gateway, path);
    }

    /// <summary>
    /// A body cut short, the client then closing its side (Kestrel takes that as the client leaving: no response can be
    /// written) or going silent (Kestrel's minimum body data rate ends it after its 5 s grace, with its own 408).
    /// Either way nothing is forwarded, nothing is a 5xx, and the gateway keeps serving with nothing held.
    /// </summary>
    [Theory]
    [InlineData("/v1/messages", "chunked, then closed", "Transfer-Encoding: chunked\r\n\r\n400\r\n", true)]
    [InlineData("/v1/chat/completions", "chunked, then closed", "Transfer-Encoding: chunked\r\n\r\n400\r\n", true)]
    [InlineData("/completion", "chunked without the last chunk, then closed", "Transfer-Encoding: chunked\r\n\r\n48\r\n", true)]
    [InlineData("/v1/messages", "content-length, then closed", "Content-Length: 1000\r\n\r\n", true)]
    [InlineData("/v1/chat/completions", "content-length, then silent", "Content-Length: 1000\r\n\r\n", false)]
    [InlineData("/v1/messages", "chunked, then silent", "Transfer-Encoding: chunked\r\n\r\n400\r\n", false)]
    public async Task TruncatedBody_RawSocket_NeverForwardedNever5xx(string path, string name, string framing, bool halfClose)
    {
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl);
        var uri = new Uri(gateway.BaseUrl);

        var (status, body) = await SendRawAsync(uri, Head(path, uri) + framing + Json, halfClose);

        Assert.True(status == 0 || status is >= 400 and < 500, $"{name}: HTTP {status} {body}");
        Assert.Empty(upstream.Requests);
        await AssertStillServingAsync(gateway, path);
        Assert.DoesNotContain("failed to handle", gateway.Logs.All, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("/v1/messages")]
    [InlineData("/v1/chat/completions")]
    public async Task ChunkedBody_WellFormed_Forwarded(string path)
    {
        // The control for the cases above: the same socket code with valid chunks gets through.
        await using var upstream = await FakeUpstream.StartAsync((http, _) => Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough));
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl);
        var uri = new Uri(gateway.BaseUrl);
        var half = Json.Length / 2;
        var chunks = Hex(Json[..half]) + "\r\n" + Json[..half] + "\r\n" + Hex(Json[half..]) + ";ext=1\r\n" + Json[half..] + "\r\n0\r\n\r\n";

        var (status, body) = await SendRawAsync(uri, Head(path, uri) + "Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks, halfClose: false);

        Assert.True(status == 200, $"HTTP {status} {body}");
        Assert.Single(upstream.Requests);
    }

    private static string Head(string path, Uri gateway) =>
        $"POST {path} HTTP/1.1\r\nHost: {gateway.Authority}\r\nContent-Type: application/json\r\nanthropic-version: 2023-06-01\r\n";

    private static void AssertInvalidRequest(string body, string path)
    {
        using var json = JsonDocument.Parse(body);
        var anthropic = path == "/v1/messages";
        Assert.Equal(anthropic, json.RootElement.TryGetProperty("type", out var type) && type.GetString() == "error");
        Assert.Equal("invalid_request_error", json.RootElement.GetProperty("error").GetProperty("type").GetString());
    }

    private static async Task AssertStillServingAsync(GatewayHost gateway, string path)
    {
        var ok = path == "/completion" ? """{"prompt":"hi","n_predict":5}""" : Json;
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(ok, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var response = await gateway.Client.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        await Leaks.AssertNoneAsync(gateway);
    }

    private static string Hex(string text) => Encoding.UTF8.GetByteCount(text).ToString("x", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Writes <paramref name="request"/> and reads one response (status and body), bounded in time.</summary>
    private static async Task<(int Status, string Body)> SendRawAsync(Uri gateway, string request, bool halfClose)
    {
        using var timeout = new CancellationTokenSource(Bound);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(gateway.Host, gateway.Port, timeout.Token);
        await socket.SendAsync(Encoding.UTF8.GetBytes(request), SocketFlags.None, timeout.Token);
        if (halfClose)
        {
            socket.Shutdown(SocketShutdown.Send);
        }

        var received = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            while (!TryParse(received.ToArray(), out _, out _))
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (read == 0)
                {
                    break;
                }

                received.Write(buffer, 0, read);
            }
        }
        catch (OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"no complete response within {Bound}; got: {Encoding.UTF8.GetString(received.ToArray())}");
        }
        catch (SocketException) when (received.Length > 0)
        {
            // A reset after the response was written: what arrived is the answer.
        }

        var bytes = received.ToArray();
        return TryParse(bytes, out var status, out var body)
            ? (status, body)
            : bytes.Length == 0 ? (0, "connection closed without a response") : throw new Xunit.Sdk.XunitException($"not an HTTP response: {Encoding.UTF8.GetString(bytes)}");
    }

    /// <summary>A whole response: a status line, headers and a Content-Length body (the gateway's errors have one) or none.</summary>
    private static bool TryParse(byte[] bytes, out int status, out string body)
    {
        status = 0;
        body = string.Empty;
        var text = Encoding.UTF8.GetString(bytes);
        var headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (headerEnd < 0 || !text.StartsWith("HTTP/1.1 ", StringComparison.Ordinal))
        {
            return false;
        }

        status = int.Parse(text.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
        var length = 0;
        foreach (var line in text[..headerEnd].Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                length = int.Parse(line.AsSpan(15).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase))
            {
                // A chunked response: good enough to read until the terminating chunk.
                var rest = text[(headerEnd + 4)..];
                var end = rest.IndexOf("\r\n0\r\n\r\n", StringComparison.Ordinal);
                if (end < 0)
                {
                    return false;
                }

                body = Dechunk(rest[..(end + 2)]);
                return true;
            }
        }

        var bodyBytes = bytes.Length - Encoding.UTF8.GetByteCount(text[..(headerEnd + 4)]);
        if (bodyBytes < length)
        {
            return false;
        }

        body = text.Substring(headerEnd + 4, Math.Min(length, text.Length - headerEnd - 4));
        return true;
    }

    private static string Dechunk(string chunked)
    {
        var result = new StringBuilder();
        var at = 0;
        while (at < chunked.Length)
        {
            var lineEnd = chunked.IndexOf("\r\n", at, StringComparison.Ordinal);
            var size = Convert.ToInt32(chunked[at..lineEnd].Split(';')[0], 16);
            result.Append(chunked, lineEnd + 2, size);
            at = lineEnd + 2 + size + 2;
        }

        return result.ToString();
    }
}
