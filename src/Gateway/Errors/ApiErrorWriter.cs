using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Errors;

/// <summary>
/// Writes errors in the caller's own API format, so Claude Code (Anthropic) and OpenAI clients show the message
/// instead of failing to parse a foreign shape.
/// </summary>
internal static class ApiErrorWriter
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static int StatusCode(ApiErrorKind kind) => kind switch
    {
        ApiErrorKind.InvalidRequest => StatusCodes.Status400BadRequest,
        ApiErrorKind.Authentication => StatusCodes.Status401Unauthorized,
        ApiErrorKind.NotFound => StatusCodes.Status404NotFound,
        ApiErrorKind.RequestTooLarge => StatusCodes.Status413PayloadTooLarge,
        ApiErrorKind.RateLimited => StatusCodes.Status429TooManyRequests,
        ApiErrorKind.UpstreamUnavailable => StatusCodes.Status502BadGateway,
        ApiErrorKind.UpstreamError => StatusCodes.Status502BadGateway,
        ApiErrorKind.UpstreamTimeout => StatusCodes.Status504GatewayTimeout,
        ApiErrorKind.Overloaded => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>Anthropic's documented error types.</summary>
    public static string AnthropicType(ApiErrorKind kind) => kind switch
    {
        ApiErrorKind.InvalidRequest => "invalid_request_error",
        ApiErrorKind.Authentication => "authentication_error",
        ApiErrorKind.NotFound => "not_found_error",
        ApiErrorKind.RequestTooLarge => "request_too_large",
        ApiErrorKind.RateLimited => "rate_limit_error",
        ApiErrorKind.Overloaded => "overloaded_error",
        ApiErrorKind.UpstreamTimeout => "timeout_error",
        _ => "api_error",
    };

    /// <summary>OpenAI's error types as llama-server and OpenAI clients know them.</summary>
    public static string OpenAiType(ApiErrorKind kind) => kind switch
    {
        ApiErrorKind.InvalidRequest or ApiErrorKind.RequestTooLarge or ApiErrorKind.NotFound => "invalid_request_error",
        ApiErrorKind.Authentication => "authentication_error",
        ApiErrorKind.RateLimited => "rate_limit_error",
        ApiErrorKind.Overloaded or ApiErrorKind.UpstreamUnavailable => "unavailable_error",
        ApiErrorKind.UpstreamTimeout => "timeout_error",
        _ => "server_error",
    };

    /// <summary>Writes the error body for <paramref name="dialect"/> into <paramref name="output"/>.</summary>
    public static void WriteBody(IBufferWriter<byte> output, ApiDialect dialect, ApiErrorKind kind, string message)
    {
        // Bounded whoever built the message: it may quote a client's property name or an upstream's answer.
        message = BoundedText.Truncate(message, BoundedText.MaxMessageChars);
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        writer.WriteStartObject();
        if (dialect == ApiDialect.Anthropic)
        {
            writer.WriteString("type", "error");
            writer.WriteStartObject("error");
            writer.WriteString("type", AnthropicType(kind));
            writer.WriteString("message", message);
            writer.WriteEndObject();
        }
        else
        {
            writer.WriteStartObject("error");
            writer.WriteString("message", message);
            writer.WriteString("type", OpenAiType(kind));
            writer.WriteNumber("code", StatusCode(kind));
            writer.WriteEndObject();
        }

        writer.WriteEndObject();
    }

    /// <summary>
    /// Writes a complete error response; once the response has started, an event stream gets the error as its last
    /// event instead (a silent truncation would look like a finished answer), anything else is left as it is.
    /// </summary>
    public static async Task WriteAsync(HttpContext http, ApiDialect dialect, ApiErrorKind kind, string message, TimeSpan? retryAfter = null)
    {
        if (http.Response.HasStarted)
        {
            if (http.Response.ContentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true)
            {
                try
                {
                    StreamErrorEvent.Write(http.Response.BodyWriter, dialect, kind, message);
                    await http.Response.BodyWriter.FlushAsync(http.RequestAborted);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
                {
                    // The client left, or the stream is already complete.
                }
            }

            return;
        }

        http.Response.Clear();
        http.Response.StatusCode = StatusCode(kind);
        http.Response.ContentType = "application/json";
        if (retryAfter is { } wait)
        {
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (dialect == ApiDialect.Anthropic)
        {
            // Anthropic clients retry on this header's absence by status; x-should-retry makes it explicit.
            http.Response.Headers["x-should-retry"] = kind is ApiErrorKind.Overloaded or ApiErrorKind.RateLimited ? "true" : "false";
        }
        else if (kind is ApiErrorKind.Overloaded or ApiErrorKind.RateLimited)
        {
            // The OpenAI SDKs read the same header; for 5xx they keep their own default.
            http.Response.Headers["x-should-retry"] = "true";
        }
        else if (StatusCode(kind) < 500)
        {
            http.Response.Headers["x-should-retry"] = "false";
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        WriteBody(buffer, dialect, kind, message);
        http.Response.ContentLength = buffer.WrittenCount;
        try
        {
            await http.Response.Body.WriteAsync(buffer.WrittenMemory, http.RequestAborted);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client left; nobody is there to read the error.
        }
    }
}
