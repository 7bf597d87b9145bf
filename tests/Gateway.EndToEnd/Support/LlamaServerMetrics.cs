using System.Globalization;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>llama-server's <c>GET /metrics</c> (Prometheus text), reduced to the counters these tests read.</summary>
internal sealed record LlamaServerMetrics(IReadOnlyDictionary<string, double> Values)
{
    /// <summary>Prompt tokens llama-server evaluated (re-computed), excluding those it reused from a slot's cache.</summary>
    public long PromptTokens => Counter("llamacpp:prompt_tokens_total");

    /// <summary>Prompt tokens served from cache (absent in older llama.cpp; then 0).</summary>
    public long CachedPromptTokens => Counter("llamacpp:prompt_tokens_cached_total");

    public double PromptSeconds => Values.GetValueOrDefault("llamacpp:prompt_seconds_total");

    public long PredictedTokens => Counter("llamacpp:tokens_predicted_total");

    public long RequestsProcessing => Counter("llamacpp:requests_processing");

    public long RequestsDeferred => Counter("llamacpp:requests_deferred");

    public static LlamaServerMetrics Parse(string text)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var space = line.LastIndexOf(' ');
            if (space > 0 && double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                values[line[..space]] = value;
            }
        }

        if (!values.ContainsKey("llamacpp:prompt_tokens_total"))
        {
            throw new InvalidOperationException($"GET /metrics has no llamacpp:prompt_tokens_total (is --metrics on?): {text[..Math.Min(text.Length, 300)]}");
        }

        return new LlamaServerMetrics(values);
    }

    private long Counter(string name) => (long)Values.GetValueOrDefault(name);
}
