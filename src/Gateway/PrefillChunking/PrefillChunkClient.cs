using System.Buffers;
using System.Buffers.Text;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using LlamaGateway.Forwarding;
using LlamaGateway.Pipeline;
using LlamaGateway.Upstreams;

namespace LlamaGateway.PrefillChunking;

/// <summary>
/// The chunker's llama-server calls: <c>POST /apply-template</c>, which renders a chat request's prompt exactly as
/// <c>/v1/chat/completions</c> would (the same parsing and chat template), <c>POST /tokenize</c>, which tokenizes it as
/// the completion endpoints do (special tokens added and parsed), and <c>POST /completion</c> with a prefix of those
/// tokens, <c>n_predict: 0</c>, <c>id_slot</c> and <c>cache_prompt</c>, which processes the prefix into the slot's KV
/// cache and answers without generating. Each call has its own timeout and never throws but for the caller's
/// cancellation: a failed chunk costs the request nothing but the chunking.
/// </summary>
internal sealed class PrefillChunkClient(IHttpClientFactory clients, TimeProvider time)
{
    public const string HttpClientName = UpstreamHttpClient.CallClientName;

    /// <summary>A chunk's answer is a few kilobytes (the completion object with its settings and timings).</summary>
    private const int MaxChunkAnswerBytes = 1024 * 1024;

    private static readonly MediaTypeHeaderValue Json = new("application/json");

    /// <summary>
    /// Renders <paramref name="chatBody"/> (the chat-completions body the request will send) to its prompt; the
    /// prompt is at most a few times the body (the template's markup), so the answer is bounded by that.
    /// </summary>
    public async Task<(PrefillCallOutcome Outcome, RenderedPrompt? Prompt, string Detail)> RenderAsync(UpstreamInstance instance, ReadOnlyMemory<byte> chatBody, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var maxAnswer = (4L * chatBody.Length) + MaxChunkAnswerBytes;
        var (outcome, answer, detail) = await SendAsync(instance, "apply-template", chatBody, maxAnswer, timeout, cancellationToken);
        if (outcome != PrefillCallOutcome.Done)
        {
            return (outcome, null, detail);
        }

        if (FindPrompt(answer!.WrittenSpan, out var start, out var length))
        {
            return (PrefillCallOutcome.Done, new RenderedPrompt(answer, start, length), string.Empty);
        }

        var excerpt = Excerpt(answer.WrittenSpan);
        answer.Dispose();
        return (PrefillCallOutcome.Failed, null, $"no \"prompt\" string in the answer: {excerpt}");
    }

    /// <summary>
    /// Tokenizes <paramref name="prompt"/> as llama-server's completion endpoints tokenize a prompt string
    /// (<c>add_special</c> and <c>parse_special</c>), so that the request, which sends the chat body, finds the chunks'
    /// tokens in the slot.
    /// </summary>
    public async Task<(PrefillCallOutcome Outcome, PromptTokens? Tokens, string Detail)> TokenizeAsync(UpstreamInstance instance, RenderedPrompt prompt, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var escaped = prompt.Escaped;
        using var body = new PooledBuffer(escaped.Length + 64);
        body.Write("{\"content\":\""u8);
        body.Write(escaped.Span);
        body.Write("\",\"add_special\":true,\"parse_special\":true}"u8);

        // At most a token per byte of the prompt, each at most 11 characters and a comma.
        var maxAnswer = (12L * escaped.Length) + MaxChunkAnswerBytes;
        var (outcome, answer, detail) = await SendAsync(instance, "tokenize", body.WrittenMemory, maxAnswer, timeout, cancellationToken);
        if (outcome != PrefillCallOutcome.Done)
        {
            return (outcome, null, detail);
        }

        using (answer)
        {
            return ReadTokens(answer!.WrittenSpan, escaped.Length) is { } tokens
                ? (PrefillCallOutcome.Done, tokens, string.Empty)
                : (PrefillCallOutcome.Failed, null, $"no \"tokens\" array of ids in the answer: {Excerpt(answer.WrittenSpan)}");
        }
    }

    /// <summary>
    /// Processes <paramref name="prefix"/> (token ids) into <paramref name="slot"/>'s cache; without
    /// <paramref name="cachePrompt"/> llama-server computes all of it, reusing nothing the slot held.
    /// </summary>
    public async Task<PrefillChunkResult> PrefillAsync(UpstreamInstance instance, int slot, ReadOnlyMemory<int> prefix, TimeSpan timeout, CancellationToken cancellationToken, bool cachePrompt = true)
    {
        using var body = new PooledBuffer((prefix.Length * 12) + 96);
        body.Write("{\"prompt\":["u8);
        var tokens = prefix.Span;
        for (var i = 0; i < tokens.Length; i++)
        {
            if (i > 0)
            {
                body.Write(","u8);
            }

            Utf8Formatter.TryFormat(tokens[i], body.GetSpan(11), out var digits);
            body.Advance(digits);
        }

        body.Write(cachePrompt ? "],\"n_predict\":0,\"cache_prompt\":true,\"id_slot\":"u8 : "],\"n_predict\":0,\"cache_prompt\":false,\"id_slot\":"u8);
        Utf8Formatter.TryFormat(slot, body.GetSpan(11), out var written);
        body.Advance(written);
        body.Write("}"u8);
        var (outcome, answer, detail) = await SendAsync(instance, "completion", body.WrittenMemory, MaxChunkAnswerBytes, timeout, cancellationToken);
        if (outcome != PrefillCallOutcome.Done)
        {
            return PrefillChunkResult.Problem(outcome, detail);
        }

        using (answer)
        {
            return ReadTimings(answer!.WrittenSpan, out var computed, out var cached, out var milliseconds)
                ? new PrefillChunkResult(PrefillCallOutcome.Done, computed, cached, milliseconds, string.Empty)
                : PrefillChunkResult.Problem(PrefillCallOutcome.Failed, $"no timings in the answer: {Excerpt(answer.WrittenSpan)}");
        }
    }

    /// <summary>Throws <see cref="OperationCanceledException"/> only when <paramref name="cancellationToken"/> (the client) cancelled.</summary>
    private async Task<(PrefillCallOutcome Outcome, PooledBuffer? Answer, string Detail)> SendAsync(UpstreamInstance instance, string path, ReadOnlyMemory<byte> body, long maxAnswerBytes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        PooledBuffer? answer = null;
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(instance.BaseUri, path)) { Content = new ReadOnlyMemoryContent(body) };
            message.Content.Headers.ContentType = Json;
            if (!string.IsNullOrEmpty(instance.Options.ApiKey))
            {
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", instance.Options.ApiKey);
            }

            using var response = await clients.CreateClient(HttpClientName).SendAsync(message, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            answer = await ReadBoundedAsync(response.Content, maxAnswerBytes, linked.Token);
            var status = (int)response.StatusCode;
            if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented)
            {
                return (PrefillCallOutcome.Unsupported, null, $"/{path} answered {status}: {Excerpt(answer.WrittenSpan)}");
            }

            if (!response.IsSuccessStatusCode)
            {
                return (PrefillCallOutcome.Failed, null, $"/{path} answered {status}: {Excerpt(answer.WrittenSpan)}");
            }

            (var done, answer) = (answer, null);
            return (PrefillCallOutcome.Done, done, string.Empty);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (PrefillCallOutcome.TimedOut, null, $"/{path}: no answer within {timeout.TotalSeconds:0.#} s (Gateway:Timeouts:FirstByteSeconds)");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidDataException)
        {
            return (PrefillCallOutcome.Failed, null, $"/{path}: {ex.GetBaseException().Message}");
        }
        finally
        {
            answer?.Dispose();
        }
    }

    /// <summary>The escaped bytes of the top-level <c>"prompt"</c> string (between its quotes).</summary>
    internal static bool FindPrompt(ReadOnlySpan<byte> json, out int start, out int length)
    {
        start = length = 0;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!MoveToTopLevel(ref reader, "prompt"u8, JsonTokenType.String))
            {
                return false;
            }

            start = (int)reader.TokenStartIndex + 1;
            length = reader.ValueSpan.Length;
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// The ids of the top-level <c>"tokens"</c> array of a <c>/tokenize</c> answer, in a pooled array; null if there is
    /// none, an element is not a plain id (as with <c>with_pieces</c>), or there are more than <paramref name="maxTokens"/>.
    /// </summary>
    internal static PromptTokens? ReadTokens(ReadOnlySpan<byte> json, int maxTokens)
    {
        int[]? rented = null;
        var count = 0;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!MoveToTopLevel(ref reader, "tokens"u8, JsonTokenType.StartArray))
            {
                return null;
            }

            rented = ArrayPool<int>.Shared.Rent(Math.Max(16, Math.Min(maxTokens, json.Length / 2)));
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var id) || id < 0 || count >= maxTokens)
                {
                    break;
                }

                if (count == rented.Length)
                {
                    var larger = ArrayPool<int>.Shared.Rent(rented.Length * 2);
                    rented.AsSpan().CopyTo(larger);
                    ArrayPool<int>.Shared.Return(rented);
                    rented = larger;
                }

                rented[count++] = id;
            }

            if (reader.TokenType == JsonTokenType.EndArray)
            {
                (var tokens, rented) = (new PromptTokens(rented, count), null);
                return tokens;
            }
        }
        catch (JsonException)
        {
        }

        if (rented is not null)
        {
            ArrayPool<int>.Shared.Return(rented);
        }

        return null;
    }

    /// <summary>llama-server's <c>timings</c> of a completion: prompt_n (computed), cache_n (reused) and prompt_ms.</summary>
    internal static bool ReadTimings(ReadOnlySpan<byte> json, out int computed, out int cached, out double milliseconds)
    {
        computed = cached = -1;
        milliseconds = 0;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!MoveToTopLevel(ref reader, "timings"u8, JsonTokenType.StartObject))
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.ValueTextEquals("prompt_n"u8) ? 1 : reader.ValueTextEquals("cache_n"u8) ? 2 : reader.ValueTextEquals("prompt_ms"u8) ? 3 : 0;
                reader.Read();
                if (reader.TokenType != JsonTokenType.Number)
                {
                    reader.Skip();
                    continue;
                }

                switch (name)
                {
                    case 1 when reader.TryGetInt32(out var value):
                        computed = value;
                        break;
                    case 2 when reader.TryGetInt32(out var value):
                        cached = value;
                        break;
                    case 3 when reader.TryGetDouble(out var value):
                        milliseconds = value;
                        break;
                }
            }
        }
        catch (JsonException)
        {
            return false;
        }

        return computed >= 0 && cached >= 0;
    }

    /// <summary>
    /// Moves <paramref name="reader"/> onto the value of the first top-level property <paramref name="name"/> that is of
    /// <paramref name="kind"/> (llama-server's answers repeat some names inside nested settings); false if there is none.
    /// </summary>
    private static bool MoveToTopLevel(ref Utf8JsonReader reader, ReadOnlySpan<byte> name, JsonTokenType kind)
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isName = reader.ValueTextEquals(name);
            reader.Read();
            if (isName && reader.TokenType == kind)
            {
                return true;
            }

            reader.Skip();
        }

        return false;
    }

    private static string Excerpt(ReadOnlySpan<byte> body)
    {
        var text = Encoding.UTF8.GetString(body[..Math.Min(body.Length, 200)]).ReplaceLineEndings(" ");
        return text.Length == 0 ? "(empty body)" : text;
    }

    private static async Task<PooledBuffer> ReadBoundedAsync(HttpContent content, long maxBytes, CancellationToken cancellationToken)
    {
        var buffer = new PooledBuffer((int)Math.Clamp(content.Headers.ContentLength ?? 16 * 1024, 256, Math.Min(maxBytes, 64 * 1024 * 1024)));
        try
        {
            await using var stream = await content.ReadAsStreamAsync(cancellationToken);
            while (true)
            {
                var read = await stream.ReadAsync(buffer.GetMemory(16 * 1024), cancellationToken);
                if (read == 0)
                {
                    return buffer;
                }

                buffer.Advance(read);
                if (buffer.WrittenCount > maxBytes)
                {
                    throw new InvalidDataException($"answer larger than {maxBytes:N0} bytes");
                }
            }
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }
}
