using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using LlamaGateway.Pipeline;
using LlamaGateway.Errors;

namespace LlamaGateway.Normalization;

/// <summary>
/// Rewrites a request body so that cache-breaking noise (the billing line, misplaced system messages) is gone and
/// nothing else changes. Never throws for bad input: it reports it in the outcome.
/// Output is compact JSON. Everything not rewritten keeps its bytes: strings and names as sent (escapes included),
/// numbers as written, member order, unknown members and duplicate keys. Text the normalizer creates (the billing
/// line, reminder blocks) is escaped like UnsafeRelaxedJsonEscaping would for JSON: only quote, backslash and control
/// characters. A folded system message becomes <c>{"type":"text","text":"&lt;system-reminder&gt;\n{text}\n&lt;/system-reminder&gt;"}</c>.
/// Running it again on its own output changes nothing.
/// </summary>
internal static class RequestNormalizer
{
    /// <summary>
    /// Nesting limit for request bodies. Above the reader's default of 64 because tool schemas and tool inputs can nest
    /// deeply; far below anything that could exhaust a stack in code that recurses over JSON.
    /// </summary>
    public const int MaxDepth = 256;

    /// <summary>
    /// Writes the normalized body to <paramref name="output"/>. On failure (the outcome says why, naming the field)
    /// <paramref name="output"/> may hold a partial body and must be discarded.
    /// </summary>
    public static NormalizationOutcome Normalize(ReadOnlySpan<byte> body, ApiRoute route, in NormalizationSettings settings, IBufferWriter<byte> output) =>
        Normalize(body, route, settings, output, tape: null);

    /// <summary>
    /// As the overload without <paramref name="tape"/>, also recording the output's tape into it (valid only when
    /// <paramref name="output"/> started empty and the recorder says <see cref="JsonTapeRecorder.IsValid"/>).
    /// </summary>
    public static NormalizationOutcome Normalize(ReadOnlySpan<byte> body, ApiRoute route, in NormalizationSettings settings, IBufferWriter<byte> output, JsonTapeRecorder? tape)
    {
        if (body.Trim(" \t\r\n"u8).IsEmpty)
        {
            return NormalizationOutcome.Fail("request body is empty");
        }

        if (!Utf8.IsValid(body))
        {
            var at = FirstInvalidUtf8(body);
            return NormalizationOutcome.Fail($"request body is not valid UTF-8 (byte {at}, in {JsonLocation.Describe(body, at)})");
        }

        var value = BillingValue(settings.BillingHeaderValue);
        Span<byte> valueBytes = stackalloc byte[256];
        if (Encoding.UTF8.GetMaxByteCount(value.Length) > valueBytes.Length)
        {
            valueBytes = new byte[Encoding.UTF8.GetMaxByteCount(value.Length)];
        }

        valueBytes = valueBytes[..Encoding.UTF8.GetBytes(value, valueBytes)];

        // The pass writes user messages in place and moves one back out when a system message after it is folded into
        // it, which only a PooledBuffer allows (the gateway's own output); other writers get the result copied.
        var staged = output as PooledBuffer ?? new PooledBuffer(body.Length + 256);
        var pass = new NormalizationPass(body, route, settings.BillingHeader, valueBytes, settings.FoldSystemMessages, staged, tape, settings.ReuseCache);
        try
        {
            pass.Run();
            if (!ReferenceEquals(staged, output))
            {
                output.Write(staged.WrittenSpan);
            }

            return new NormalizationOutcome(true, null, pass.BillingLines, pass.Folded);
        }
        catch (InvalidBodyException e)
        {
            return NormalizationOutcome.Fail(e.Message);
        }
        catch (JsonException e)
        {
            var at = JsonLocation.OffsetOf(body, e);
            return NormalizationOutcome.Fail($"request body is not valid JSON (in {JsonLocation.Describe(body, at)}): {BoundedText.Truncate(e.Message)}");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not expected from validated input: the contract is to never throw, so even a bug becomes a 400 that says where.
            return NormalizationOutcome.Fail($"request body could not be normalized (in {JsonLocation.Describe(body, pass.Position)}): {e.GetType().Name}: {BoundedText.Truncate(e.Message)}");
        }
        finally
        {
            pass.Dispose();
            if (!ReferenceEquals(staged, output))
            {
                staged.Dispose();
            }
        }
    }

    /// <summary>The configured value up to any line break: a break would split the line and defeat idempotence.</summary>
    private static ReadOnlySpan<char> BillingValue(string? configured)
    {
        var value = (configured ?? NormalizationSettings.DefaultBillingHeaderValue).AsSpan();
        var lineBreak = value.IndexOfAny('\r', '\n');
        return lineBreak < 0 ? value : value[..lineBreak];
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> body)
    {
        var at = 0;
        while (at < body.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(body[at..], out _, out var consumed) != OperationStatus.Done)
            {
                return at;
            }

            at += consumed;
        }

        return at;
    }
}
