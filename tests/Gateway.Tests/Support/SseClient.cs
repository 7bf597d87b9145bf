using System.Text;

namespace LlamaGateway.Tests.Support;

/// <summary>Reads a streamed HTTP response one SSE event at a time, as a client would see them arrive.</summary>
internal sealed class SseClient(Stream stream) : IDisposable
{
    private readonly StreamReader _reader = new(stream, Encoding.UTF8);

    /// <summary>The next event (its lines joined with \n), or null at the end of the stream.</summary>
    public async Task<string?> NextEventAsync(CancellationToken cancellationToken = default)
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await _reader.ReadLineAsync(cancellationToken);
            if (line is null)
            {
                return lines.Count == 0 ? null : string.Join('\n', lines);
            }

            if (line.Length == 0)
            {
                if (lines.Count > 0)
                {
                    return string.Join('\n', lines);
                }

                continue;
            }

            lines.Add(line);
        }
    }

    public async Task<List<string>> ReadAllAsync(CancellationToken cancellationToken = default)
    {
        var all = new List<string>();
        while (await NextEventAsync(cancellationToken) is { } e)
        {
            all.Add(e);
        }

        return all;
    }

    public void Dispose() => _reader.Dispose();
}
