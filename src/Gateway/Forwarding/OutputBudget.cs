using System.Buffers.Text;
using System.Text.Json;
using LlamaGateway.Pipeline;
using LlamaGateway.Translation;

namespace LlamaGateway.Forwarding;

/// <summary>
/// A streamed request's output budget, enforced by the gateway: an upstream that keeps generating past it (one that
/// ignores <c>n_predict</c>, a build with a bug, a server behind a misconfigured proxy) holds its slot for nothing and
/// streams without end, so the relay ends the stream with an error event and drops the upstream request, which frees
/// the slot.
/// </summary>
/// <remarks>
/// The budget is what llama-server is asked for: the request's own limit (<c>max_tokens</c>; on the OpenAI routes the
/// first of <c>n_predict</c>, <c>max_completion_tokens</c>, <c>max_tokens</c>, as llama-server reads them) clamped by
/// <c>Gateway:Upstreams[i]:MaxOutputTokens</c>. What is counted is what arrives, not what the upstream reports:
/// every OpenAI chunk (chat completions and <c>/completion</c> alike) and every Anthropic <c>content_block_delta</c>.
/// llama-server sends one chunk per generated token, a few more at the edges (the role chunk, the finish chunk, a
/// parser's extra diff when reasoning turns into text or a tool call starts) and sometimes fewer (text a tool-call
/// parser holds back), so the stream ends only past the budget plus a margin of an eighth (at least 16 events): never
/// for a well-behaved server, within about an eighth for one that is not.
/// </remarks>
internal sealed class OutputBudget
{
    private readonly bool _anthropicEvents;
    private int _events;

    private OutputBudget(int tokens, bool anthropicEvents)
    {
        Tokens = tokens;
        EventLimit = tokens + Math.Max(16, tokens / 8);
        _anthropicEvents = anthropicEvents;
    }

    /// <summary>Output tokens the request may produce.</summary>
    public int Tokens { get; }

    /// <summary>Counted events past which the stream is ended.</summary>
    public int EventLimit { get; }

    /// <summary>
    /// The budget of a streamed request, or null when neither the request nor its instance sets one (llama-server then
    /// stops at the end of the slot's context, or at its own <c>-n</c>).
    /// </summary>
    /// <param name="anthropicEvents">Whether the upstream's stream is in Anthropic events (an anthropic-dialect upstream on /v1/messages).</param>
    public static OutputBudget? For(GatewayRequestContext request, bool anthropicEvents) =>
        For(request.BodyTape, request.Route, request.Lease?.Instance.Options.MaxOutputTokens, anthropicEvents);

    /// <summary>The budget of a streamed request with this body (normalized) on this route, with its instance's cap.</summary>
    public static OutputBudget? For(Normalization.JsonTape? body, ApiRoute route, int? cap, bool anthropicEvents)
    {
        if (route == ApiRoute.CountTokens)
        {
            return null;
        }

        var requested = body is { } tape ? Requested(tape.Root, route) : null;
        long? budget = (requested, cap) switch
        {
            ({ } r, { } c) => Math.Min(r, c),
            ({ } r, null) => r,
            (null, { } c) => c,
            _ => null,
        };
        return budget is { } tokens ? new OutputBudget((int)Math.Min(tokens, int.MaxValue / 2), anthropicEvents) : null;
    }

    /// <summary>Counts one upstream event; true when the stream has gone past the budget.</summary>
    public bool Count(ReadOnlySpan<byte> eventName, ReadOnlySpan<byte> data)
    {
        if (_anthropicEvents ? !eventName.SequenceEqual("content_block_delta"u8) : data.IsEmpty || data.SequenceEqual("[DONE]"u8))
        {
            return false;
        }

        return ++_events > EventLimit;
    }

    /// <summary>The request's own limit in tokens, null for none (absent, null, negative: llama-server's "no limit").</summary>
    private static long? Requested(JsonTapeValue root, ApiRoute route)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (route == ApiRoute.Messages)
        {
            return root.TryGetProperty("max_tokens"u8, out var maxTokens) ? TokenCount(maxTokens) : null;
        }

        // llama-server takes the first of these that is present.
        if (root.TryGetProperty("n_predict"u8, out var value) || root.TryGetProperty("max_completion_tokens"u8, out value)
            || root.TryGetProperty("max_tokens"u8, out value))
        {
            return TokenCount(value);
        }

        return null;
    }

    private static long? TokenCount(JsonTapeValue value)
    {
        if (value.ValueKind != JsonValueKind.Number)
        {
            return null;
        }

        if (value.TryGetInt64(out var whole))
        {
            return whole >= 0 ? whole : null;
        }

        // 1e3, 100.0: what llama-server's JSON library reads as a number.
        return Utf8Parser.TryParse(value.Raw, out double number, out _) && double.IsFinite(number) && number >= 0
            ? (long)Math.Min(Math.Floor(number), long.MaxValue)
            : null;
    }
}
