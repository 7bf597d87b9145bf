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

        if (NotAnApiAnswer(upstream) is { } problem)
        {
            // Not llama-server speaking (a redirect, a proxy's login page, another service on the port): relayed, a
            // client would follow the redirect or fail to parse the page. The instance's fault, not the request's.
            var message = $"Upstream '{instance.Name}' {problem}.";
            health.RequestFailed(instance, message);
            request.Fail(ApiErrorKind.UpstreamError, message);
            await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.UpstreamError, message);
            return;
        }

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

    /// <summary>
    /// Why an upstream answer is not one to relay, or null: a redirect (never followed), or a 1xx/2xx whose body is not
    /// JSON or an event stream. Error statuses are read as error bodies whatever their content type.
    /// </summary>
    internal static string? NotAnApiAnswer(HttpResponseMessage upstream)
    {
        var status = (int)upstream.StatusCode;
        if (status is >= 300 and < 400)
        {
            return $"answered HTTP {status} (a redirect), which the gateway does not follow; check Gateway:Upstreams BaseUrl";
        }

        if (status >= 400)
        {
            return null;
        }

        var mediaType = upstream.Content.Headers.ContentType?.MediaType;
        if (mediaType is not null && (IsJson(mediaType) || string.Equals(mediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        var shown = mediaType is null ? "no content type" : $"content type '{BoundedText.Truncate(mediaType, 100)}'";
        return $"answered HTTP {status} with {shown} instead of JSON or an event stream; check Gateway:Upstreams BaseUrl";
    }

    private static bool IsJson(string mediaType) =>
        string.Equals(mediaType, "application/json", StringComparison.OrdinalIgnoreCase)
        || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase);

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
        var budget = OutputBudget.For(request, anthropicEvents: translator is null && request.ClientDialect == ApiDialect.Anthropic);
        UpstreamErrorBody? reported = null;
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

                if (budget is not null && budget.Count(events.EventName, events.Data))
                {
                    // Returning drops the upstream response: its connection closes and llama-server frees the slot.
                    var over = $"Upstream '{instance.Name}' kept generating past this request's output budget of {budget.Tokens} tokens (max_tokens, clamped by Gateway:Upstreams MaxOutputTokens); the gateway ended the stream.";
                    await EndWithErrorAsync(http, request, translator, ApiErrorKind.UpstreamError, over);
                    return;
                }

                if (IsErrorEvent(events.EventName, events.Data))
                {
                    reported ??= UpstreamErrorBody.Parse(events.Data);
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
                if (reported is { } error)
                {
                    ReportedMidStream(request, instance, error);
                }
                else if (translator.Completed)
                {
                    health.RequestSucceeded(instance);
                }
                else if (upstreamReportedError)
                {
                    // An error the translator met in the stream itself (a malformed chunk): the answer came, broken.
                    request.Fail(ApiErrorKind.UpstreamError, truncated);
                    health.RequestSucceeded(instance);
                }
                else
                {
                    request.Fail(ApiErrorKind.UpstreamError, truncated);
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
                if (reported is { } error)
                {
                    ReportedMidStream(request, instance, error);
                }
                else
                {
                    health.RequestSucceeded(instance);
                }

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

    /// <summary>An error event in either dialect: Anthropic's <c>event: error</c>, OpenAI's <c>data: {"error": ...}</c>.</summary>
    private static bool IsErrorEvent(ReadOnlySpan<byte> eventName, ReadOnlySpan<byte> data) =>
        eventName.SequenceEqual("error"u8) || data.StartsWith("{\"error\""u8);

    /// <summary>
    /// An upstream ended its stream with an error event of its own: relayed (or translated) to the caller, recorded as
    /// the request's failure, and counted against the instance only when it is real trouble ("Compute error.") rather
    /// than about the request (the context filling up mid-generation).
    /// </summary>
    private void ReportedMidStream(GatewayRequestContext request, Upstreams.UpstreamInstance instance, in UpstreamErrorBody error)
    {
        var message = error.Message ?? "(no message)";
        if (UpstreamErrorClassifier.Classify(StatusCodes.Status500InternalServerError, error) == UpstreamFault.Request)
        {
            health.RequestRejected(instance);
            request.Fail(ApiErrorKind.InvalidRequest, $"Upstream '{instance.Name}' ended the stream with an error about the request: {message}");
            return;
        }

        health.RequestFailed(instance, $"Upstream '{instance.Name}' ended a stream with an error", error.Message);
        request.Fail(ApiErrorKind.UpstreamError, $"Upstream '{instance.Name}' ended the stream with an error: {message}");
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

    /// <summary>Largest upstream error body relayed byte for byte (when already in the caller's format); larger ones are rewritten, bounded.</summary>
    private const int MaxVerbatimErrorBytes = 8 * 1024;

    private async Task RelayErrorAsync(HttpContext http, GatewayRequestContext request, HttpResponseMessage upstream)
    {
        using var body = await ReadBoundedAsync(upstream, http.RequestAborted);
        var status = (int)upstream.StatusCode;
        var instance = request.Lease!.Instance;
        var error = body is null ? UpstreamErrorBody.Empty : UpstreamErrorBody.Parse(body.WrittenSpan);
        var upstreamMessage = error.Message ?? "(no message)";

        if (status is 401 or 403)
        {
            // The gateway's own credentials for the upstream, not the caller's request nor the instance's health.
            health.RequestRejected(instance);
            var credentials = $"Upstream '{instance.Name}' rejected the gateway's credentials (HTTP {status}); check Gateway:Upstreams ApiKey for it.";
            request.Fail(ApiErrorKind.UpstreamError, credentials);
            await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.UpstreamError, credentials);
            return;
        }

        // Whose fault: a 4xx, or a 5xx about the request (llama-server answers many request problems with 500), is the
        // request's and leaves the instance's health alone; anything else counts against the instance.
        var verbatim = body is not null && body.WrittenCount <= MaxVerbatimErrorBytes && !error.MessageTruncated && error.IsShapeOf(request.ClientDialect);
        if (UpstreamErrorClassifier.Classify(status, error) == UpstreamFault.Request)
        {
            health.RequestRejected(instance);
            var kind = status switch
            {
                429 => ApiErrorKind.RateLimited,
                413 => ApiErrorKind.RequestTooLarge,
                _ => ApiErrorKind.InvalidRequest,
            };
            var message = RequestFaultMessage(request.ClientDialect, instance.Name, status, error);
            request.Fail(kind, message);
            if (verbatim && status < 500)
            {
                // Already the caller's format, e.g. llama-server's exceed_context_size_error with its token counts.
                await RelayVerbatimAsync(http, request, status, body!, retry: kind == ApiErrorKind.RateLimited);
                return;
            }

            await ApiErrorWriter.WriteAsync(http, request.ClientDialect, kind, message);
            return;
        }

        health.RequestFailed(instance, $"Upstream '{instance.Name}' answered HTTP {status}", error.Message);
        var (failureKind, failure) = status == 503
            ? (ApiErrorKind.Overloaded, $"Upstream '{instance.Name}' is unavailable (HTTP 503, e.g. still loading the model): {upstreamMessage}")
            : (ApiErrorKind.UpstreamError, $"Upstream '{instance.Name}' failed (HTTP {status}): {upstreamMessage}");
        request.Fail(failureKind, failure);
        if (verbatim)
        {
            // Same format on both sides: the upstream's own error (and status) reaches the caller.
            await RelayVerbatimAsync(http, request, status, body!, retry: false);
            return;
        }

        if (request.TranslateResponse && error.Shape == UpstreamErrorShape.OpenAi)
        {
            // llama-server's error in Anthropic terms, its status kind kept (server_error -> api_error 500).
            var anthropicType = AnthropicErrors.FromOpenAiType(error.Type);
            using var translated = new PooledBuffer(512);
            AnthropicErrors.WriteBody(anthropicType, upstreamMessage, translated);
            http.Response.StatusCode = AnthropicErrors.StatusCodeFor(anthropicType);
            http.Response.ContentType = "application/json";
            await WriteAllAsync(http, translated.WrittenMemory, request);
            return;
        }

        await ApiErrorWriter.WriteAsync(http, request.ClientDialect, failureKind, failure);
    }

    /// <summary>
    /// The message for an upstream error that is the request's fault. Anthropic callers get a context overflow in
    /// Anthropic's own words, "prompt is too long: N tokens > M maximum", which is what Claude Code looks for before it
    /// compacts a conversation.
    /// </summary>
    private static string RequestFaultMessage(ApiDialect dialect, string instance, int status, in UpstreamErrorBody error)
    {
        if (dialect == ApiDialect.Anthropic && error.Type == "exceed_context_size_error" && error.PromptTokens is { } prompt && error.ContextTokens is { } context)
        {
            return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"prompt is too long: {prompt} tokens > {context} maximum");
        }

        return error.Message is { Length: > 0 } message
            ? $"Upstream '{instance}' could not process this request: {message}"
            : $"Upstream '{instance}' rejected the request (HTTP {status}).";
    }

    private static async Task RelayVerbatimAsync(HttpContext http, GatewayRequestContext request, int status, PooledBuffer body, bool retry)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        if (status < 500)
        {
            // The caller's own fault: retrying the same request cannot help (unless the upstream is only rate limiting).
            http.Response.Headers["x-should-retry"] = retry ? "true" : "false";
        }

        await WriteAllAsync(http, body.WrittenMemory, request);
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
