using System.Text.Json;
using LlamaGateway.Usage;

namespace LlamaGateway.Translation;

/// <summary>
/// Fills an <see cref="UpstreamUsage"/> from what one upstream response reports, in either dialect. One instance per
/// response: fields may arrive in different chunks or events and later values replace earlier ones.
/// </summary>
/// <remarks>
/// OpenAI dialect (llama-server): <c>usage.prompt_tokens</c> is the whole prompt, <c>usage.prompt_tokens_details
/// .cached_tokens</c> and <c>timings.cache_n</c> the part reused from the slot, <c>timings.prompt_n</c> the part
/// re-computed. When timings are present they win (they are what the slot actually did); usage is the fallback for
/// upstreams without timings. Anthropic dialect: <c>input_tokens</c> excludes cache reads and cache writes, so the
/// prompt total is their sum.
/// </remarks>
internal sealed class UpstreamUsageReader(UpstreamUsage target)
{
    private int _usagePrompt = -1;
    private int _usageCompletion = -1;
    private int _usageCached = -1;
    private int _timingsPrompt = -1;
    private int _timingsCached = -1;
    private int _timingsPredicted = -1;
    private double _timingsPromptMs = -1;

    private int _anthropicInput = -1;
    private int _anthropicCacheRead = -1;
    private int _anthropicCacheCreation = -1;
    private int _anthropicOutput = -1;

    public UpstreamUsage Target { get; } = target;

    /// <summary>Reads top-level <c>usage</c> and <c>timings</c> of an OpenAI chunk or response.</summary>
    /// <returns>Whether either was present.</returns>
    public bool ReadOpenAi(ReadOnlySpan<byte> json)
    {
        var found = false;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("usage"u8))
                {
                    reader.Read();
                    found |= ReadOpenAiUsage(ref reader);
                }
                else if (reader.ValueTextEquals("timings"u8))
                {
                    reader.Read();
                    found |= ReadTimings(ref reader);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            // Usage is best effort: a malformed body is reported by whoever translates it.
        }

        if (found)
        {
            ApplyOpenAi();
        }

        return found;
    }

    /// <summary>
    /// Reads an Anthropic <c>message_start</c> or <c>message_delta</c> event's data, or a whole (non-streamed)
    /// message; fields a <c>message_delta</c> leaves out keep the values <c>message_start</c> gave.
    /// </summary>
    /// <returns>Whether usage was present.</returns>
    public bool ReadAnthropic(ReadOnlySpan<byte> json)
    {
        var found = false;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("usage"u8))
                {
                    reader.Read();
                    found |= ReadAnthropicUsage(ref reader);
                }
                else if (reader.ValueTextEquals("message"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var isUsage = reader.ValueTextEquals("usage"u8);
                        reader.Read();
                        if (isUsage)
                        {
                            found |= ReadAnthropicUsage(ref reader);
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
        }

        if (found)
        {
            ApplyAnthropic();
        }

        return found;
    }

    /// <summary>Reads a <c>usage</c> object at the reader's current StartObject (or skips any other value).</summary>
    internal bool ReadOpenAiUsage(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return false;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("prompt_tokens"u8))
            {
                _usagePrompt = ReadInt(ref reader, _usagePrompt);
            }
            else if (reader.ValueTextEquals("completion_tokens"u8))
            {
                _usageCompletion = ReadInt(ref reader, _usageCompletion);
            }
            else if (reader.ValueTextEquals("prompt_tokens_details"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("cached_tokens"u8))
                    {
                        _usageCached = ReadInt(ref reader, _usageCached);
                    }
                    else
                    {
                        reader.Read();
                        reader.Skip();
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return true;
    }

    /// <summary>Reads a llama-server <c>timings</c> object at the reader's current StartObject.</summary>
    internal bool ReadTimings(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return false;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("prompt_n"u8))
            {
                _timingsPrompt = ReadInt(ref reader, _timingsPrompt);
            }
            else if (reader.ValueTextEquals("cache_n"u8))
            {
                _timingsCached = ReadInt(ref reader, _timingsCached);
            }
            else if (reader.ValueTextEquals("predicted_n"u8))
            {
                _timingsPredicted = ReadInt(ref reader, _timingsPredicted);
            }
            else if (reader.ValueTextEquals("prompt_ms"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out var ms))
                {
                    _timingsPromptMs = ms;
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return true;
    }

    /// <summary>
    /// Copies what the OpenAI fields say into <see cref="Target"/>, counting the tokens the gateway had prefilled in
    /// chunks before the request (<see cref="UpstreamUsage.ChunkedTokens"/>) as re-computed, not cached.
    /// </summary>
    internal void ApplyOpenAi()
    {
        var chunked = Target.ChunkedTokens;
        if (_timingsPrompt >= 0)
        {
            var cached = _timingsCached >= 0 ? _timingsCached : Math.Max(_usageCached, 0);
            Target.PromptTokens = _timingsPrompt + cached;
            Target.CachedTokens = Math.Max(0, cached - chunked);
            Target.ReportedCachedTokens = cached;
        }
        else if (_usagePrompt >= 0)
        {
            Target.PromptTokens = _usagePrompt;
            Target.CachedTokens = _usageCached >= 0 ? Math.Max(0, _usageCached - chunked) : _usageCached;
            Target.ReportedCachedTokens = _usageCached;
        }

        if (_usageCompletion >= 0)
        {
            Target.OutputTokens = _usageCompletion;
        }
        else if (_timingsPredicted >= 0)
        {
            Target.OutputTokens = _timingsPredicted;
        }

        if (_timingsPromptMs >= 0)
        {
            Target.PromptMilliseconds = _timingsPromptMs + Target.ChunkedMilliseconds;
        }
    }

    private bool ReadAnthropicUsage(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return false;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("input_tokens"u8))
            {
                _anthropicInput = ReadInt(ref reader, _anthropicInput);
            }
            else if (reader.ValueTextEquals("cache_read_input_tokens"u8))
            {
                _anthropicCacheRead = ReadInt(ref reader, _anthropicCacheRead);
            }
            else if (reader.ValueTextEquals("cache_creation_input_tokens"u8))
            {
                _anthropicCacheCreation = ReadInt(ref reader, _anthropicCacheCreation);
            }
            else if (reader.ValueTextEquals("output_tokens"u8))
            {
                _anthropicOutput = ReadInt(ref reader, _anthropicOutput);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return true;
    }

    private void ApplyAnthropic()
    {
        if (_anthropicInput >= 0 || _anthropicCacheRead >= 0)
        {
            var cached = Math.Max(_anthropicCacheRead, 0);
            Target.PromptTokens = Math.Max(_anthropicInput, 0) + cached + Math.Max(_anthropicCacheCreation, 0);
            Target.CachedTokens = _anthropicCacheRead >= 0 ? cached : -1;
        }

        if (_anthropicOutput >= 0)
        {
            Target.OutputTokens = _anthropicOutput;
        }
    }

    /// <summary>Reads the value after a property name as an int; null or another type keeps <paramref name="current"/>.</summary>
    private static int ReadInt(ref Utf8JsonReader reader, int current)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) && value >= 0)
        {
            return (int)Math.Min(value, int.MaxValue);
        }

        reader.Skip();
        return current;
    }
}
