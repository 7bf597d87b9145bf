using System.Text;
using System.Text.Json;

namespace LlamaGateway.Tests.Streaming;

/// <summary>
/// What an OpenAI chat-completion stream says, computed independently of the code under test (plain string splitting
/// and JsonDocument), so translated output can be checked against the upstream it came from.
/// </summary>
internal sealed class OpenAiStreamSummary
{
    public string Reasoning { get; private set; } = string.Empty;

    public string Content { get; private set; } = string.Empty;

    public List<ToolCallSummary> ToolCalls { get; } = [];

    public string? FinishReason { get; private set; }

    public int? PromptTokens { get; private set; }

    public int? CachedTokens { get; private set; }

    public int? CompletionTokens { get; private set; }

    public int? TimingsPromptN { get; private set; }

    public int? TimingsCacheN { get; private set; }

    public double? TimingsPromptMs { get; private set; }

    public string? ErrorMessage { get; private set; }

    public string? ErrorType { get; private set; }

    public bool SawDone { get; private set; }

    public static OpenAiStreamSummary FromSse(byte[] sse)
    {
        var summary = new OpenAiStreamSummary();
        var text = Encoding.UTF8.GetString(sse).Replace("\r\n", "\n", StringComparison.Ordinal);
        foreach (var block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var line in block.Split('\n'))
            {
                if (line == "data: [DONE]")
                {
                    summary.SawDone = true;
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    summary.Add(line["data: ".Length..]);
                }
                else if (line.StartsWith("error: ", StringComparison.Ordinal))
                {
                    using var error = JsonDocument.Parse(line["error: ".Length..]);
                    summary.ErrorMessage = error.RootElement.GetProperty("message").GetString();
                    summary.ErrorType = error.RootElement.GetProperty("type").GetString();
                }
            }
        }

        return summary;
    }

    private void Add(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.TryGetProperty("error", out var error))
        {
            ErrorMessage = error.GetProperty("message").GetString();
            ErrorType = error.GetProperty("type").GetString();
            return;
        }

        foreach (var choice in root.GetProperty("choices").EnumerateArray())
        {
            var delta = choice.GetProperty("delta");
            if (delta.TryGetProperty("reasoning_content", out var reasoning) && reasoning.ValueKind == JsonValueKind.String)
            {
                Reasoning += reasoning.GetString();
            }

            if (delta.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            {
                Content += content.GetString();
            }

            if (delta.TryGetProperty("tool_calls", out var calls))
            {
                foreach (var call in calls.EnumerateArray())
                {
                    var index = call.GetProperty("index").GetInt32();
                    while (ToolCalls.Count <= index)
                    {
                        ToolCalls.Add(new ToolCallSummary());
                    }

                    var summary = ToolCalls[index];
                    if (call.TryGetProperty("id", out var id))
                    {
                        summary.Id = id.GetString()!;
                    }

                    var function = call.GetProperty("function");
                    if (function.TryGetProperty("name", out var name))
                    {
                        summary.Name = name.GetString()!;
                    }

                    if (function.TryGetProperty("arguments", out var arguments))
                    {
                        summary.Arguments += arguments.GetString();
                    }
                }
            }

            if (choice.TryGetProperty("finish_reason", out var finish) && finish.ValueKind == JsonValueKind.String)
            {
                FinishReason = finish.GetString();
            }
        }

        if (root.TryGetProperty("usage", out var usage))
        {
            PromptTokens = usage.GetProperty("prompt_tokens").GetInt32();
            CompletionTokens = usage.GetProperty("completion_tokens").GetInt32();
            if (usage.TryGetProperty("prompt_tokens_details", out var details))
            {
                CachedTokens = details.GetProperty("cached_tokens").GetInt32();
            }
        }

        if (root.TryGetProperty("timings", out var timings))
        {
            TimingsPromptN = timings.GetProperty("prompt_n").GetInt32();
            TimingsCacheN = timings.GetProperty("cache_n").GetInt32();
            TimingsPromptMs = timings.GetProperty("prompt_ms").GetDouble();
        }
    }

    internal sealed class ToolCallSummary
    {
        public string Id { get; set; } = string.Empty;

        public string Name { get; set; } = string.Empty;

        public string Arguments { get; set; } = string.Empty;
    }
}
