using System.Buffers;
using System.Buffers.Text;
using System.Text.Json;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Reliability;
using LlamaGateway.Errors;

namespace LlamaGateway.Translation;

/// <summary>
/// Applies the gateway's ownership of fields (<see cref="FieldPolicy"/>, docs/fields.md) to an OpenAI-dialect body
/// bound for llama-server: <c>id_slot</c> and <c>cache_prompt</c> become the gateway's (<c>cache_prompt</c> false only
/// for a request kept off other users' tokens, <c>Gateway:Isolation</c> PerUser), the output limit in whichever
/// spelling llama-server would obey becomes one clamped limit, and the fields that would reach other slots are refused
/// or dropped. Every other top-level property is copied byte for byte, so a client's own formatting (and its prompt
/// bytes) survive untouched.
/// </summary>
/// <remarks>
/// Works from the body's tape: the top-level members are found by jumping over each value, not by reading a 100 KB
/// body again. A first pass checks what the gateway owns (the same check as the shape check's, so a body that slipped
/// past it still fails here rather than going upstream un-owned) and finds the limit; the second writes the result
/// straight into the output, which stays empty on failure.
/// </remarks>
internal static class OpenAiRequestPatcher
{
    /// <summary>As the tape overload, parsing <paramref name="openAiBody"/> first (tests and callers without a tape).</summary>
    public static TranslationOutcome Patch(ReadOnlySpan<byte> openAiBody, ApiRoute route, in ChatRequestSettings settings, IBufferWriter<byte> output)
    {
        JsonTape tape;
        try
        {
            tape = JsonTape.Parse(openAiBody.ToArray(), RequestNormalizer.MaxDepth);
        }
        catch (JsonException e)
        {
            return TranslationOutcome.Fail($"request body is not valid JSON: {BoundedText.Truncate(e.Message)}");
        }

        using (tape)
        {
            return Patch(tape, route, settings, output);
        }
    }

    public static TranslationOutcome Patch(JsonTape tape, ApiRoute route, in ChatRequestSettings settings, IBufferWriter<byte> output)
    {
        if (tape.Count == 0 || tape.TypeAt(0) != JsonTokenType.StartObject)
        {
            return TranslationOutcome.Fail("request body must be a JSON object");
        }

        var end = tape.EndAt(0) - 1;
        var stream = false;
        var model = string.Empty;
        long? requested = null;
        var requestedRank = int.MaxValue;
        for (var name = 1; name < end; name = tape.EndAt(name + 1))
        {
            var value = name + 1;
            var rule = FieldPolicy.Find(route, tape, name);
            if (!rule.IsKnown)
            {
                continue;
            }

            if (rule.Ownership != FieldOwnership.Passed && RequestShapeCheck.CheckField(rule, tape, value) is { } problem)
            {
                return TranslationOutcome.Fail(problem);
            }

            var type = tape.TypeAt(value);
            if (rule.Ownership == FieldOwnership.OutputLimit && type == JsonTokenType.Number && FieldPolicy.LimitRank(rule) < requestedRank)
            {
                OutputTokenLimit.TryRead(tape.ValueAt(value), out var limit);
                requested = limit;
                requestedRank = FieldPolicy.LimitRank(rule);
            }
            else if (rule.Name == "stream")
            {
                stream = type == JsonTokenType.True;
            }
            else if (rule.Name == "model" && type == JsonTokenType.String)
            {
                model = new JsonTapeValue(tape, value).GetString();
            }
        }

        var json = tape.Json;
        output.Write("{"u8);
        var first = true;
        for (var name = 1; name < end; name = tape.EndAt(name + 1))
        {
            var value = name + 1;
            var rule = FieldPolicy.Find(route, tape, name);
            switch (rule.Ownership)
            {
                case FieldOwnership.Passed or FieldOwnership.SinglePrompt:
                    break;
                case FieldOwnership.Capped when tape.TypeAt(value) == JsonTokenType.Number && OverCap(tape.ValueAt(value), rule.Max):
                    Separator(output, ref first);
                    output.Write(tape.RawAt(name));
                    output.Write(":"u8);
                    WriteInt(output, (long)rule.Max);
                    continue;
                case FieldOwnership.Capped:
                    break;
                default:
                    // Replaced, dropped, the limit (written once below), n (checked to be 1), lora (checked empty).
                    continue;
            }

            Separator(output, ref first);
            output.Write(json[(tape.EntryAt(name).Start - 1)..ValueEnd(tape, value)]);
        }

        if (OutputTokenLimit.Effective(requested, settings.MaxOutputTokens) is { } effective)
        {
            Separator(output, ref first);
            output.Write(FieldPolicy.LimitName(route));
            WriteInt(output, effective);
        }

        if (settings.IdSlot is { } slot)
        {
            Separator(output, ref first);
            output.Write("\"id_slot\":"u8);
            WriteInt(output, slot);
        }

        Separator(output, ref first);
        output.Write(settings.IsolatePrompt ? "\"cache_prompt\":false}"u8 : "\"cache_prompt\":true}"u8);
        return new TranslationOutcome(true, null, stream, model);
    }

    /// <summary>Just past a value's last byte (a string's closing quote, a container's closing bracket).</summary>
    private static int ValueEnd(JsonTape tape, int value)
    {
        ref readonly var entry = ref tape.EntryAt(value);
        return entry.Start + entry.Length + (entry.Type == JsonTokenType.String ? 1 : 0);
    }

    private static bool OverCap(ReadOnlySpan<byte> number, double cap) =>
        double.TryParse(number, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value) && value > cap;

    private static void Separator(IBufferWriter<byte> output, ref bool first)
    {
        if (!first)
        {
            output.Write(","u8);
        }

        first = false;
    }

    private static void WriteInt(IBufferWriter<byte> output, long value)
    {
        var span = output.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out var written);
        output.Advance(written);
    }
}
