using System.Text;

namespace LlamaGateway.Bench.Overhead;

/// <summary>
/// A llama-server stand-in that does no work: it drains the request body and streams a fixed reply, in the
/// Anthropic dialect on /v1/messages and the OpenAI dialect on /v1/chat/completions (what the gateway sends), event by
/// event with a flush each, as llama-server does per token. It also answers /health and /props like llama-server.
/// </summary>
internal static class ZeroUpstream
{
    private static readonly string[] Words = ["Hello", " from", " the", " zero", "-work", " upstream", "."];

    public static WebApplication Build(int slots)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        var app = builder.Build();
        var anthropic = AnthropicEvents();
        var openAi = OpenAiEvents();
        var props = Encoding.UTF8.GetBytes($"{{\"total_slots\":{slots},\"model_path\":\"/models/zero.gguf\",\"n_ctx\":32768}}");

        app.MapGet("/health", () => Results.Text("{\"status\":\"ok\"}", "application/json"));
        app.MapGet("/props", (HttpContext http) => http.Response.Body.WriteAsync(props).AsTask());
        app.MapPost("/v1/messages/count_tokens", async http =>
        {
            await Drain(http);
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync("{\"input_tokens\":11500}");
        });
        app.MapPost("/v1/messages", http => Stream(http, anthropic));
        app.MapPost("/v1/chat/completions", http => Stream(http, openAi));
        return app;
    }

    private static async Task Stream(HttpContext http, byte[][] events)
    {
        await Drain(http);
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        await http.Response.StartAsync(http.RequestAborted);
        foreach (var e in events)
        {
            await http.Response.Body.WriteAsync(e, http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }
    }

    private static async Task Drain(HttpContext http)
    {
        var reader = http.Request.BodyReader;
        while (true)
        {
            var result = await reader.ReadAsync(http.RequestAborted);
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    private static byte[][] AnthropicEvents()
    {
        var events = new List<string>
        {
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_zero\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"zero\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"cache_read_input_tokens\":11480,\"input_tokens\":20,\"output_tokens\":0}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        };
        events.AddRange(Words.Select(w => $"event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{w}\"}}}}\n\n"));
        events.Add("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
        events.Add("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n");
        events.Add("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        return [.. events.Select(Encoding.UTF8.GetBytes)];
    }

    private static byte[][] OpenAiEvents() =>
        [.. OpenAiChunks.Select(c => Encoding.UTF8.GetBytes($"data: {c}\n\n")).Append(Encoding.UTF8.GetBytes("data: [DONE]\n\n"))];

    /// <summary>The chat-completion chunks of the fixed reply, as llama-server streams them (usage and timings last).</summary>
    public static IReadOnlyList<string> OpenAiChunks { get; } = BuildOpenAiChunks();

    private static List<string> BuildOpenAiChunks()
    {
        const string head = "{\"id\":\"chatcmpl-zero\",\"object\":\"chat.completion.chunk\",\"created\":1760000000,\"model\":\"zero\",\"system_fingerprint\":\"b1-zero\",\"choices\":[";
        var chunks = new List<string> { $"{head}{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":null}},\"finish_reason\":null}}]}}" };
        chunks.AddRange(Words.Select(w => $"{head}{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}},\"finish_reason\":null}}]}}"));
        chunks.Add($"{head}{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"completion_tokens\":7,\"prompt_tokens\":11500,\"total_tokens\":11507,\"prompt_tokens_details\":{{\"cached_tokens\":11480}}}},\"timings\":{{\"cache_n\":11480,\"prompt_n\":20,\"prompt_ms\":12.5,\"predicted_n\":7,\"predicted_ms\":30.1}}}}");
        return chunks;
    }
}
