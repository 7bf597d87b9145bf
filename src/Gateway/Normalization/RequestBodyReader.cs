using System.IO.Pipelines;
using LlamaGateway.Errors;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Normalization;

/// <summary>
/// Stage 1: reads the request body into a pooled buffer under the configured size limit, normalizes it and records
/// the normalized body's token tape for the later stages.
/// Writes the 400/413 itself and returns false when the request cannot go on.
/// </summary>
internal sealed class RequestBodyReader(IOptionsMonitor<GatewayOptions> options, UpstreamRegistry registry)
{
    /// <summary>Shared by every request: Claude Code's tools array is the same for every user of a version.</summary>
    public UnchangedValueCache? ReuseCache { get; } = options.CurrentValue.Normalization.ReuseCacheMegabytes is > 0 and var megabytes
        ? new UnchangedValueCache(megabytes * 1024L * 1024L)
        : null;

    public async ValueTask<bool> ReadAndNormalizeAsync(HttpContext http, GatewayRequestContext request)
    {
        var current = options.CurrentValue;
        var limit = current.MaxRequestBodyBytes;
        if (http.Request.ContentLength is { } declared && declared > limit)
        {
            await RejectTooLargeAsync(http, request, limit);
            return false;
        }

        using var raw = new PooledBuffer((int)Math.Clamp(http.Request.ContentLength ?? 16 * 1024, 1024, 64 * 1024 * 1024));
        var reader = http.Request.BodyReader;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await reader.ReadAsync(http.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
            catch (Exception ex) when (IsBadBody(ex) && !http.RequestAborted.IsCancellationRequested)
            {
                // Kestrel reports broken framing as BadHttpRequestException, except a chunk size that overflows
                // (an IOException): both are the client's body, never the gateway's fault.
                var why = BoundedText.Truncate(ex.Message);
                request.Fail(ApiErrorKind.InvalidRequest, $"unreadable body: {why}");
                await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.InvalidRequest, $"Could not read the request body: {why}");
                return false;
            }

            var buffer = result.Buffer;
            if (raw.WrittenCount + buffer.Length > limit)
            {
                reader.AdvanceTo(buffer.End);
                await RejectTooLargeAsync(http, request, limit);
                return false;
            }

            foreach (var segment in buffer)
            {
                segment.Span.CopyTo(raw.GetSpan(segment.Length));
                raw.Advance(segment.Length);
            }

            reader.AdvanceTo(buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        request.RequestBytes = raw.WrittenCount;
        if (raw.WrittenCount == 0)
        {
            request.Fail(ApiErrorKind.InvalidRequest, "empty body");
            await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.InvalidRequest, "The request body is empty; expected a JSON object.");
            return false;
        }

        var settings = Resolve(current.Normalization);
        var normalized = new PooledBuffer(raw.WrittenCount + 256);
        using var recorder = new JsonTapeRecorder(raw.WrittenCount);
        var outcome = RequestNormalizer.Normalize(raw.WrittenSpan, request.Route, settings, normalized, recorder);
        request.Normalization = outcome;
        if (!outcome.Success)
        {
            normalized.Dispose();
            request.Fail(ApiErrorKind.InvalidRequest, $"Invalid request body: {outcome.Error}");
            await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.InvalidRequest, $"Invalid request body: {outcome.Error}");
            return false;
        }

        request.Body = normalized;
        try
        {
            // Recorded while normalizing, unless the output was spliced from raw pieces (folded system messages).
            request.BodyTape = recorder.IsValid
                ? recorder.ToTape(normalized.WrittenMemory)
                : JsonTape.Parse(normalized.WrittenMemory, RequestNormalizer.MaxDepth);
        }
        catch (System.Text.Json.JsonException e)
        {
            // The normalizer read the body without complaint, so this would be a bug of its own; still the caller gets a 400 naming it.
            var message = $"Invalid request body: the normalized body could not be read back ({e.Message})";
            request.Fail(ApiErrorKind.InvalidRequest, message);
            await ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.InvalidRequest, message);
            return false;
        }

        return true;
    }

    private NormalizationSettings Resolve(NormalizationOptions normalization)
    {
        var fold = normalization.FoldSystemMessages switch
        {
            "Always" => true,
            "Never" => false,
            _ => AnyOpenAiUpstream(),
        };
        return new NormalizationSettings(normalization.ParsedBillingHeader, normalization.BillingHeaderValue, fold, ReuseCache);
    }

    // Auto folding follows the pool rather than the chosen instance: the conversation's identity (stage 2) must not
    // depend on where it is routed, and llama-server's own /v1/messages renders the same chat template anyway.
    private bool AnyOpenAiUpstream()
    {
        foreach (var instance in registry.Instances)
        {
            if (instance.Dialect == ApiDialect.OpenAi)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsBadBody(Exception ex) => ex is Microsoft.AspNetCore.Http.BadHttpRequestException or IOException;

    private static Task RejectTooLargeAsync(HttpContext http, GatewayRequestContext request, long limit)
    {
        request.Fail(ApiErrorKind.RequestTooLarge, "body too large");
        return ApiErrorWriter.WriteAsync(http, request.ClientDialect, ApiErrorKind.RequestTooLarge,
            $"The request body is larger than the gateway's limit of {limit:N0} bytes (Gateway:MaxRequestBodyBytes).");
    }
}
