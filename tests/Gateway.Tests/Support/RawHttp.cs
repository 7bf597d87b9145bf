using System.Net.Sockets;
using System.Text;

namespace LlamaGateway.Tests.Support;

/// <summary>A response read off the wire: the status code, the header block and the body as sent.</summary>
internal sealed record RawResponse(int Status, string Headers, string Body)
{
    public string? Header(string name)
    {
        foreach (var line in Headers.Split("\r\n"))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line[..colon].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return line[(colon + 1)..].Trim();
            }
        }

        return null;
    }
}

/// <summary>
/// Sends requests byte for byte over a TCP connection: HttpClient (System.Uri) rewrites request targets (dot segments,
/// some escapes) before they leave, so spellings of a path and malformed lines can only be tested this way.
/// </summary>
internal static class RawHttp
{
    /// <summary>Sends one request on its own connection (<c>Connection: close</c>) and reads the response to the end.</summary>
    public static async Task<RawResponse> SendAsync(string baseUrl, string method, string target, IEnumerable<string> headerLines, string body = "", TimeSpan? timeout = null)
    {
        var uri = new Uri(baseUrl);
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port, cancel.Token);
        var stream = tcp.GetStream();
        var head = new StringBuilder();
        head.Append(method).Append(' ').Append(target).Append(" HTTP/1.1\r\n");
        head.Append("Host: ").Append(uri.Authority).Append("\r\n");
        foreach (var line in headerLines)
        {
            head.Append(line).Append("\r\n");
        }

        var bodyBytes = Encoding.UTF8.GetBytes(body);
        if (bodyBytes.Length > 0)
        {
            head.Append("Content-Type: application/json\r\n");
        }

        head.Append("Content-Length: ").Append(bodyBytes.Length).Append("\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.Latin1.GetBytes(head.ToString()), cancel.Token);
        await stream.WriteAsync(bodyBytes, cancel.Token);

        using var received = new MemoryStream();
        try
        {
            await stream.CopyToAsync(received, cancel.Token);
        }
        catch (IOException) when (received.Length > 0)
        {
            // A server that rejects a malformed request may reset the connection after its answer.
        }

        var text = Encoding.UTF8.GetString(received.ToArray());
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var headers = split < 0 ? text : text[..split];
        var statusLine = headers.Split("\r\n")[0].Split(' ');
        Assert.True(statusLine.Length >= 2 && int.TryParse(statusLine[1], out _), $"no HTTP status line in: {text}");
        return new RawResponse(int.Parse(statusLine[1], System.Globalization.CultureInfo.InvariantCulture), headers, split < 0 ? string.Empty : text[(split + 4)..]);
    }
}
