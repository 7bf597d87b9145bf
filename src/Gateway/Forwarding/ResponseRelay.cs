using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using LlamaGateway.Errors;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Reliability;
using LlamaGateway.Streaming;
using LlamaGateway.Translation;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Forwarding;

/// <summary>
/// Stage 5b: carries the upstream's response to the client. Streams go event by event (flushed each time), through
/// the Anthropic translator when the request was translated; usage is read on the way. A stream that breaks, stalls
/// or ends early ends with an error event in the client's dialect rather than a silent truncation. What it sees is
/// reported to <see cref="UpstreamHealth"/> (passive health), except failures the client or a shutdown caused.
/// Never throws: an exception escaping into YARP would leave the client a bare 500 or a cut-off stream.
/// </summary>
internal sealed class ResponseRelay(IOptionsMonitor<GatewayOptions> options, UpstreamHealth health, GatewayShutdown shutdown)
{
    private const int MaxJsonResponseBytes = 64 * 1024 * 1024;

    public async Task RelayAsync(HttpContext http, GatewayRequestContext request, HttpResponseMessage upstream)
    {
        if (request.UpstreamClosedEarly is not null)
        {
            // The stand-in for a connection closed before any answer: dropped, and the request is sent again.
            return;
        }

        var status = (int)upstream.StatusCode;
        var mediaType = upstream.Content.Headers.ContentType?.MediaType;
        var stream = status < 400 && string.Equals(mediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase);
        if (!stream && request.Lease!.Preemption?.TryCommit() == false)
        {
            // Paused for shorter prompts before or as this answer arrived: dropped, and the request is sent again.
            return;
        }

        request.UpstreamStatus = status;
        request.UpstreamResponded = true;
        var instance = request.Lease!.Instance;
        health.Answered(instance);

        try
        {
            if (status >= 400)
            {
                await RelayErrorAsync(http, request, upstream);
            }
            else if (stream)
            {
                await RelayStreamAsync(http, request, upstream);
            }
            else
            {
                await RelayJsonAsync(http, request, upstream);
            }
        }
        catch (Exception) when (http.RequestAborted.IsCancellationRequested)
        {
            request.Fail(ApiErrorKind.Internal, "client disconnected");
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
        {
            // Reading a non-streamed body failed; nothing has been written to the client yet.
            var (kind, message) = shutdown.DrainExpired.IsCancellationRequested
                ? (ApiErrorKind.Overloaded, ShuttingDownMessage())
                : ex is OperationCanceledException
                    ? (ApiErrorKind.UpstreamTimeout, $"Upstream '{instance.Name}' went silent for {options.CurrentValue.Timeouts.StreamIdleSeconds:0.#} s while sending its response (Gateway:Timeouts:StreamIdleSeconds).")
                    : (ApiErrorKind.UpstreamError, $"Upstream '{instance.Name}' failed while sending its response: {ex.Message}");
            if (kind != ApiErrorKind.Overloaded)
            {
                health.RequestFailed(instance, message);
            }

            request.Fail(kind, message);
            await ApiErrorWriter.WriteAsync(http, request.ClientDialect, kind, message, kind == ApiErrorKind.Overloaded ? TimeSpan.FromSeconds(5) : null);
        }
    }

    /// <summary>The error every request cut off by the end of the drain time gets.</summary>
    public string ShuttingDownMessage() =>
        $"The gateway is shutting down and this request did not finish within {options.CurrentValue.Shutdown.DrainSeconds:0.#} s (Gateway:Shutdown:DrainSeconds); retry it.";

    private async Task RelayStreamAsync(HttpContext http, GatewayRequestContext request, HttpResponseMessage upstream)
    {
        var timeouts = options.CurrentValue.Timeouts;
        // The response starts with the first relayed event (or error event), not here: a request paused for shorter
        // prompts before its first event is sent again through YARP, which refuses once the response has started.
        // Clients see no difference: Kestrel's StartAsync sends nothing either, the headers go out with the first write.
        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";

        var writer = response.BodyWriter;
        using var translator = request.TranslateResponse
            ? new OpenAiToAnthropicStream(request.Model) { ChunkedPrefill = (request.Usage.ChunkedTokens, request.Usage.ChunkedMilliseconds) }
            : null;
        var usage = new UpstreamUsageReader(request.Usage);
        var instance = request.Lease!.Instance;
        var sawEnd = false;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, shutdown.DrainExpired);
        var preemption = request.Lease.Preemption;

        // A pause for shorter prompts before the first event ends this attempt's wait (the forwarder sends it again).
        var paused = preemption is null ? default : preemption.AttemptToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), deadline);
        Stream? body = null;
        SseEventReader? events = null;
        var first = true;
        try
        {
            body = await upstream.Content.ReadAsStreamAsync(http.RequestAborted);
            events = new SseEventReader(body);
            var unflushed = false;
            while (true)
            {
                // Events that arrived together go to the client in one write: flushed only once nothing complete is
                // left to relay, before waiting on the upstream again (fewer syscalls per token under load).
                if (!events.TryReadNextBuffered())
                {
                    if (unflushed)
                    {
                        unflushed = false;
                        if (!await FlushAsync(http, request, writer))
                        {
                            return;
                        }
                    }

                    // The first event waits out the prefill, which may take minutes for a cold prompt.
                    deadline.CancelAfter(TimeSpan.FromSeconds(first ? timeouts.FirstByteSeconds : timeouts.StreamIdleSeconds));
                    if (!await events.ReadNextAsync(deadline.Token))
                    {
                        break;
                    }
                }

                if (first)
                {
                    if (preemption is not null && !preemption.TryCommit())
                    {
                        // Paused as the first event arrived: dropped unsent, the request is sent again.
                        return;
                    }

                    // llama-server sends a stream's first event only once the prompt is processed (the headers come
                    // at launch), so this is when the slot stops prefilling.
                    await paused.DisposeAsync();
                    request.Lease?.PrefillDone();
                    first = false;
                }

                if (translator is not null)
                {
                    Translate(translator, events, writer);
                }
                else
                {
                    writer.Write(events.RawEvent);
                    sawEnd |= IsEndOfStream(request.ClientDialect, events.EventName, events.Data);
                    TapUsage(usage, request.ClientDialect, events.EventName, events.Data);
                }

                unflushed = true;
            }

            var truncated = $"Upstream '{instance.Name}' ended the stream before the response was complete.";
            if (translator is not null)
            {
                // Ends the message; a stream that stopped without a finish reason becomes an error event there. An
                // error the upstream itself reported is an answer (the instance works), a cut-off stream is not.
                var upstreamReportedError = translator.Failed;
                translator.OnDone(writer);
                request.Usage.CopyFrom(translator.Usage);
                if (!translator.Completed)
                {
                    request.Fail(ApiErrorKind.UpstreamError, truncated);
                }

                if (translator.Completed || upstreamReportedError)
                {
                    health.RequestSucceeded(instance);
                }
                else
                {
                    health.RequestFailed(instance, truncated);
                }

                await FlushAsync(http, request, writer);
            }
            else if (!sawEnd)
            {
                health.RequestFailed(instance, truncated);
                await EndWithErrorAsync(http, request, null, ApiErrorKind.UpstreamError, truncated);
            }
            else
            {
                health.RequestSucceeded(instance);
                await FlushAsync(http, request, writer);
            }
        }
        catch (Exception ex) when (http.RequestAborted.IsCancellationRequested && ex is OperationCanceledException or IOException or HttpRequestException)
        {
            // The client disconnected: returning drops the upstream response, which closes the connection so
            // llama-server stops generating and frees the slot.
            request.Fail(ApiErrorKind.Internal, "client disconnected");
        }
        catch (Exception ex) when (first && preemption is not null && preemption.AttemptToken.IsCancellationRequested && ex is OperationCanceledException or IOException or HttpRequestException)
        {
            // Paused for shorter prompts before the first event: nothing has reached the client; returning drops the
            // upstream response, whose closed connection makes llama-server stop at its next batch.
        }
        catch (Exception ex) when (shutdown.DrainExpired.IsCancellationRequested && ex is OperationCanceledException or IOException or HttpRequestException)
        {
            // Not the upstream's fault: the gateway is stopping and the drain time is over.
            await EndWithErrorAsync(http, request, translator, ApiErrorKind.Overloaded, ShuttingDownMessage());
        }
        catch (OperationCanceledException)
        {
            var seconds = first ? timeouts.FirstByteSeconds : timeouts.StreamIdleSeconds;
            var message = first
                ? $"Upstream '{instance.Name}' sent no event within {seconds:0.#} s (Gateway:Timeouts:FirstByteSeconds)."
                : $"Upstream '{instance.Name}' went silent for {seconds:0.#} s mid-stream (Gateway:Timeouts:StreamIdleSeconds).";
            health.RequestFailed(instance, message);
            await EndWithErrorAsync(http, request, translator, ApiErrorKind.UpstreamTimeout, message);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or SseEventTooLargeException)
        {
            var message = $"Upstream '{instance.Name}' failed mid-stream: {ex.Message}";
            health.RequestFailed(instance, message);
            await EndWithErrorAsync(http, request, translator, ApiErrorKind.UpstreamError, message);
        }
        finally
        {
            await paused.DisposeAsync();
            if (translator is not null && request.Usage.PromptTokens < 0)
            {
                request.Usage.CopyFrom(translator.Usage);
            }

            events?.Dispose();
            body?.Dispose();
        }
    }

    private static void Translate(OpenAiToAnthropicStream translator, SseEventReader events, PipeWriter writer)
    {
        var data = events.Data;
        if (events.EventName.SequenceEqual("error"u8))
        {
            translator.OnUpstreamError(data, writer);
        }
        else if (data.SequenceEqual("[DONE]"u8))
        {
            translator.OnDone(writer);
        }
        else if (data.Length > 0)
        {
            translator.OnChunk(data, writer);
        }
    }

    private static async Task EndWithErrorAsync(HttpContext http, GatewayRequestContext request, OpenAiToAnthropicStream? translator, ApiErrorKind kind, string message)
    {
        request.Fail(kind, message);
        if (http.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        // Relayed events still waiting for their flush count as sent, as each did when it was flushed on its own.
        if (http.Response.BodyWriter.CanGetUnflushedBytes)
        {
            request.ResponseBytes += http.Response.BodyWriter.UnflushedBytes;
        }

        if (translator is not null)
        {
            translator.OnError(ApiErrorWriter.AnthropicType(kind), message, http.Response.BodyWriter);
        }
        else
        {
            StreamErrorEvent.Write(http.Response.BodyWriter, request.ClientDialect, kind, message);
        }

        try
        {
            await http.Response.BodyWriter.FlushAsync(http.RequestAborted);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static bool IsEndOfStream(ApiDialect dialect, ReadOnlySpan<byte> eventName, ReadOnlySpan<byte> data) =>
        dialect == ApiDialect.Anthropic
            ? eventName.SequenceEqual("message_stop"u8) || eventName.SequenceEqual("error"u8)
            : data.SequenceEqual("[DONE]"u8) || data.StartsWith("{\"error\""u8);

    private static void TapUsage(UpstreamUsageReader usage, ApiDialect dialect, ReadOnlySpan<byte> eventName, ReadOnlySpan<byte> data)
    {
        if (dialect == ApiDialect.Anthropic)
        {
            if (eventName.SequenceEqual("message_start"u8) || eventName.SequenceEqual("message_delta"u8))
            {
                usage.ReadAnthropic(data);
            }
        }
        else if (data.IndexOf("\"timings\""u8) >= 0 || data.IndexOf("\"usage\""u8) >= 0)
        {
            usage.ReadOpenAi(data);
        }
    }

    private async Task RelayJsonAsync(HttpContext http, GatewayRequestContext request, HttpResponseMessage upstream)
    {
        using var body = await ReadBoundedAsync(upstream, http.RequestAborted);
        health.RequestSucceeded(request.Lease!.Instance);
        if (body is null)
        {
            await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.UpstreamError,
                $"Upstream '{request.Lease!.Instance.Name}' sent a response larger than {MaxJsonResponseBytes:N0} bytes.");
            return;
        }

        var response = http.Response;
        response.StatusCode = (int)upstream.StatusCode;
        response.ContentType = "application/json";
        if (request.TranslateResponse)
        {
            using var translated = new PooledBuffer(body.WrittenCount + 256);
            if (!OpenAiToAnthropicResponse.Translate(body.WrittenSpan, request.Model, translated, request.Usage, out _))
            {
                request.Fail(ApiErrorKind.UpstreamError, "untranslatable response");
                await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.UpstreamError,
                    $"Upstream '{request.Lease!.Instance.Name}' sent a chat completion the gateway could not translate.");
                return;
            }

            await WriteAllAsync(http, translated.WrittenMemory, request);
            return;
        }

        var usage = new UpstreamUsageReader(request.Usage);
        if (request.Route == ApiRoute.Messages)
        {
            usage.ReadAnthropic(body.WrittenSpan);
        }
        else if (request.Route != ApiRoute.CountTokens)
        {
            usage.ReadOpenAi(body.WrittenSpan);
        }

        await WriteAllAsync(http, body.WrittenMemory, request);
    }

    private async Task RelayErrorAsync(HttpContext http, GatewayRequestContext request, HttpResponseMessage upstream)
    {
        using var body = await ReadBoundedAsync(upstream, http.RequestAborted);
        var status = (int)upstream.StatusCode;
        var instance = request.Lease!.Instance;
        var upstreamMessage = body is null ? null : ExtractErrorMessage(body.WrittenSpan);

        // A 4xx is the upstream working as it should (the request was at fault); a 5xx counts against the instance.
        if (status >= 500)
        {
            health.RequestFailed(instance, $"HTTP {status}: {upstreamMessage}");
        }
        else
        {
            health.RequestSucceeded(instance);
        }

        var upstreamDialect = request.TranslateResponse ? ApiDialect.OpenAi : instance.Dialect;
        request.Fail(ApiErrorKind.UpstreamError, $"Upstream '{instance.Name}' answered HTTP {status}: {upstreamMessage ?? "(no message)"}");

        if (request.TranslateResponse && body is not null && status is not (401 or 403))
        {
            using var translated = new PooledBuffer(512);
            var anthropicType = OpenAiToAnthropicResponse.TranslateError(body.WrittenSpan, translated);
            http.Response.StatusCode = AnthropicErrors.StatusCodeFor(anthropicType);
            http.Response.ContentType = "application/json";
            await WriteAllAsync(http, translated.WrittenMemory, request);
            return;
        }

        // Same dialect on both sides: the upstream's own error body is already in the client's format.
        if (upstreamDialect == request.ClientDialect && body is not null && upstreamMessage is not null && status is not (401 or 403))
        {
            http.Response.StatusCode = status;
            http.Response.ContentType = "application/json";
            await WriteAllAsync(http, body.WrittenMemory, request);
            return;
        }

        var (kind, message) = status switch
        {
            401 or 403 => (ApiErrorKind.UpstreamError, $"Upstream '{instance.Name}' rejected the gateway's credentials (HTTP {status}); check Gateway:Upstreams ApiKey for it."),
            429 => (ApiErrorKind.RateLimited, $"Upstream '{instance.Name}' is rate limiting: {upstreamMessage}"),
            503 => (ApiErrorKind.Overloaded, $"Upstream '{instance.Name}' is unavailable (HTTP 503, e.g. still loading the model): {upstreamMessage}"),
            >= 400 and < 500 => (ApiErrorKind.InvalidRequest, $"Upstream '{instance.Name}' rejected the request (HTTP {status}): {upstreamMessage}"),
            _ => (ApiErrorKind.UpstreamError, $"Upstream '{instance.Name}' failed (HTTP {status}): {upstreamMessage}"),
        };
        await ApiErrorWriter.WriteAsync(http, request.ClientDialect, kind, message);
    }

    /// <summary>Reads <c>error.message</c> (OpenAI and Anthropic) or a bare string body; never throws.</summary>
    internal static string? ExtractErrorMessage(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return body.Length == 0 ? null : Encoding.UTF8.GetString(body[..Math.Min(body.Length, 500)]);
            }

            var depth = reader.CurrentDepth;
            var inError = false;
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (!inError && reader.CurrentDepth == depth + 1 && reader.ValueTextEquals("error"u8))
                    {
                        reader.Read();
                        if (reader.TokenType == JsonTokenType.String)
                        {
                            return reader.GetString();
                        }

                        inError = reader.TokenType == JsonTokenType.StartObject;
                        continue;
                    }

                    if (inError && reader.CurrentDepth == depth + 2 && reader.ValueTextEquals("message"u8))
                    {
                        reader.Read();
                        return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    }
                }
            }
        }
        catch (JsonException)
        {
        }

        return null;
    }

    /// <summary>Sends what was written to the client, counting it; false when the client is gone.</summary>
    private static async ValueTask<bool> FlushAsync(HttpContext http, GatewayRequestContext request, System.IO.Pipelines.PipeWriter writer)
    {
        if (writer.CanGetUnflushedBytes)
        {
            request.ResponseBytes += writer.UnflushedBytes;
        }

        var flush = await writer.FlushAsync(http.RequestAborted);
        return !flush.IsCanceled && !flush.IsCompleted;
    }

    /// <summary>
    /// Reads a whole non-streamed body, at most <see cref="MaxJsonResponseBytes"/> (null beyond). A body that stalls
    /// for <c>StreamIdleSeconds</c>, or outlives the drain time, ends with an OperationCanceledException.
    /// </summary>
    private async Task<PooledBuffer?> ReadBoundedAsync(HttpResponseMessage upstream, CancellationToken cancellationToken)
    {
        var idle = TimeSpan.FromSeconds(options.CurrentValue.Timeouts.StreamIdleSeconds);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, shutdown.DrainExpired);
        var buffer = new PooledBuffer((int)Math.Clamp(upstream.Content.Headers.ContentLength ?? 4096, 256, MaxJsonResponseBytes));
        try
        {
            await using var stream = await upstream.Content.ReadAsStreamAsync(deadline.Token);
            while (true)
            {
                var memory = buffer.GetMemory(8192);
                deadline.CancelAfter(idle);
                var read = await stream.ReadAsync(memory, deadline.Token);
                if (read == 0)
                {
                    return buffer;
                }

                buffer.Advance(read);
                if (buffer.WrittenCount > MaxJsonResponseBytes)
                {
                    buffer.Dispose();
                    return null;
                }
            }
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    private static async Task WriteAllAsync(HttpContext http, ReadOnlyMemory<byte> body, GatewayRequestContext request)
    {
        http.Response.ContentLength = body.Length;
        request.ResponseBytes = body.Length;
        await http.Response.Body.WriteAsync(body, http.RequestAborted);
    }
}
