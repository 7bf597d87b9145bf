using System.Buffers;
using System.Collections.Frozen;
using System.Text;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Translation;

/// <summary>
/// The top-level fields the gateway knows on each route, and what it does with each (docs/fields.md is this table in
/// prose). On the OpenAI routes the body reaches llama-server's <c>params_from_json</c> schema almost whole (chat
/// completions copy every field they do not set themselves into it), so both tables list every field that schema and
/// the chat parser read, as of the llama.cpp the toolchain builds (tools/server/server-schema.cpp, server-common.cpp;
/// an end-to-end test holds this table to that source). Fields the gateway does not know pass untouched: clients add
/// fields all the time, and llama-server ignores the ones it does not read.
/// The shape check (<see cref="Reliability.RequestShapeCheck"/>) enforces types, ranges and the rejections; the
/// patcher (<see cref="OpenAiRequestPatcher"/>) and the translator apply the ownership.
/// </summary>
internal static class FieldPolicy
{
    /// <summary>Log-probabilities per generated token, at most (OpenAI's own limit for <c>top_logprobs</c>).</summary>
    public const int MaxProbs = 20;

    private const double Int32Min = int.MinValue;
    private const double Int32Max = int.MaxValue;

    private static readonly FrozenDictionary<string, FieldRule> ChatRules = Build(LlamaServerFields().Concat(
    [
        // The chat parser's own fields (server-common.cpp, oaicompat_chat_params_parse).
        new("messages", JsonKinds.Array),
        new("tools", JsonKinds.Array),
        new("tool_choice", JsonKinds.String | JsonKinds.Object),
        new("parallel_tool_calls", JsonKinds.Boolean),
        new("response_format", JsonKinds.Object),
        new("chat_template_kwargs", JsonKinds.Object),
        new("add_generation_prompt", JsonKinds.Boolean),
        new("reasoning_effort", JsonKinds.String),
        new("thinking_budget_tokens", JsonKinds.Number, Min: Int32Min, Max: Int32Max),

        // A boolean here: a number would reach the schema as n_probs' alias, past top_logprobs' cap.
        new("logprobs", JsonKinds.Boolean),
        new("top_logprobs", JsonKinds.Number, FieldOwnership.Capped, Max: MaxProbs),
    ]));

    private static readonly FrozenDictionary<string, FieldRule> CompletionRules = Build(LlamaServerFields().Concat(
    [
        new("prompt", JsonKinds.String | JsonKinds.Array, FieldOwnership.SinglePrompt),

        // n_probs' alias on /completion (read when n_probs is absent).
        new("logprobs", JsonKinds.Number | JsonKinds.Boolean, FieldOwnership.Capped, Max: MaxProbs),

        // Not read on /completion today; capped as on chat so it stays harmless if it ever is.
        new("top_logprobs", JsonKinds.Number, FieldOwnership.Capped, Max: MaxProbs),
    ]));

    /// <summary>
    /// What the gateway reads of an Anthropic body itself, and what llama-server's own <c>/v1/messages</c> reads when it
    /// is passed through (server-chat.cpp, server_chat_convert_anthropic_to_oai: it drops everything else, n and
    /// id_slot included, so only the output limit needs owning there).
    /// </summary>
    private static readonly FrozenDictionary<string, FieldRule> AnthropicRules = Build(
    [
        new("model", JsonKinds.String),
        new("messages", JsonKinds.Array),
        new("system", JsonKinds.String | JsonKinds.Array),
        new("max_tokens", JsonKinds.Number, FieldOwnership.OutputLimit, Min: 1),
        new("stream", JsonKinds.Boolean),
        new("temperature", JsonKinds.Number),
        new("top_p", JsonKinds.Number),
        new("top_k", JsonKinds.Number, Min: Int32Min, Max: Int32Max),
        new("stop_sequences", JsonKinds.Array),
        new("tools", JsonKinds.Array),
        new("tool_choice", JsonKinds.Object),
        new("metadata", JsonKinds.Object),
        new("thinking", JsonKinds.Object),
    ]);

    private static readonly FrozenDictionary<string, FieldRule>.AlternateLookup<ReadOnlySpan<char>> Chat = ChatRules.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenDictionary<string, FieldRule>.AlternateLookup<ReadOnlySpan<char>> Completion = CompletionRules.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenDictionary<string, FieldRule>.AlternateLookup<ReadOnlySpan<char>> Anthropic = AnthropicRules.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>The longest known name, in bytes: longer names are unknown without a lookup.</summary>
    private static readonly int LongestName = ChatRules.Keys.Concat(CompletionRules.Keys).Concat(AnthropicRules.Keys).Max(k => k.Length);

    /// <summary>The spelling the patcher writes the output limit under, per route.</summary>
    public static ReadOnlySpan<byte> LimitName(ApiRoute route) => route == ApiRoute.Completion ? "\"n_predict\":"u8 : "\"max_tokens\":"u8;

    /// <summary>
    /// Where a limit spelling stands in llama-server's order (it reads n_predict, then max_completion_tokens, then
    /// max_tokens, the first one present and not null): lower wins.
    /// </summary>
    public static int LimitRank(in FieldRule rule) => rule.Name switch
    {
        "n_predict" => 0,
        "max_completion_tokens" => 1,
        _ => 2,
    };

    /// <summary>Every rule of <paramref name="route"/>'s table (for the docs and their tests).</summary>
    public static IEnumerable<FieldRule> Rules(ApiRoute route) => Table(route).Values;

    /// <summary>The rule for the (unescaped) name <paramref name="name"/>, or the default (unknown) rule.</summary>
    public static FieldRule Find(ApiRoute route, ReadOnlySpan<byte> name)
    {
        if (name.Length > LongestName)
        {
            return default;
        }

        Span<char> chars = stackalloc char[LongestName];
        if (Ascii.ToUtf16(name, chars, out var written) != OperationStatus.Done)
        {
            return default;
        }

        var lookup = route switch
        {
            ApiRoute.ChatCompletions => Chat,
            ApiRoute.Completion => Completion,
            _ => Anthropic,
        };
        return lookup.TryGetValue(chars[..written], out var rule) ? rule : default;
    }

    /// <summary>The rule for the property name the reader is on, escapes decoded (llama-server decodes them too).</summary>
    public static FieldRule Find(ApiRoute route, ref JsonTokenizer reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return Find(route, reader.ValueSpan);
        }

        // An escape stands for at least one byte in at most six, so a longer raw name cannot decode to a known one.
        if (reader.ValueSpan.Length > LongestName * 6)
        {
            return default;
        }

        Span<byte> decoded = stackalloc byte[(LongestName * 6) + JsonTokenizer.UnescapeSlack];
        return Find(route, decoded[..reader.CopyString(decoded)]);
    }

    /// <summary>The rule for the property name at tape index <paramref name="name"/>, escapes decoded.</summary>
    public static FieldRule Find(ApiRoute route, JsonTape tape, int name)
    {
        if (!tape.IsEscapedAt(name))
        {
            return Find(route, tape.ValueAt(name));
        }

        var raw = tape.RawAt(name);
        if (raw.Length > (LongestName * 6) + 2)
        {
            return default;
        }

        Span<byte> decoded = stackalloc byte[(LongestName * 6) + 2];
        return Find(route, decoded[..JsonText.Unescape(raw, decoded)]);
    }

    private static FrozenDictionary<string, FieldRule> Table(ApiRoute route) => route switch
    {
        ApiRoute.ChatCompletions => ChatRules,
        ApiRoute.Completion => CompletionRules,
        _ => AnthropicRules,
    };

    private static FrozenDictionary<string, FieldRule> Build(IEnumerable<FieldRule> rules) =>
        rules.ToFrozenDictionary(rule => rule.Name, StringComparer.Ordinal);

    /// <summary>
    /// Fields of llama-server's completion schema (server-schema.cpp, make_llama_cmpl_schema) and its completion
    /// handler (server-context.cpp: id_slot), read on both OpenAI routes.
    /// </summary>
    private static IEnumerable<FieldRule> LlamaServerFields() =>
    [
        // Owned: each reaches beyond this request's slot, the shared batch or the request's budget.
        new("id_slot", JsonKinds.Any, FieldOwnership.Replaced),
        new("cache_prompt", JsonKinds.Any, FieldOwnership.Replaced),
        new("n_cmpl", JsonKinds.Number, FieldOwnership.SingleCompletion),
        new("n", JsonKinds.Number, FieldOwnership.SingleCompletion),
        new("n_predict", JsonKinds.Number, FieldOwnership.OutputLimit),
        new("max_completion_tokens", JsonKinds.Number, FieldOwnership.OutputLimit),
        new("max_tokens", JsonKinds.Number, FieldOwnership.OutputLimit),
        new("n_probs", JsonKinds.Number, FieldOwnership.Capped, Max: MaxProbs),
        new("lora", JsonKinds.Array, FieldOwnership.EmptyOnly),
        new("backend_sampling", JsonKinds.Any, FieldOwnership.Dropped),
        new("return_progress", JsonKinds.Any, FieldOwnership.Dropped),
        new("response_fields", JsonKinds.Any, FieldOwnership.Dropped),

        // Passed, typed as the schema reads them; ranges are its hard limits, or int32 where it casts to one.
        new("model", JsonKinds.String),
        new("stream", JsonKinds.Boolean),
        new("stream_options", JsonKinds.Object),
        new("verbose", JsonKinds.Boolean),
        new("timings_per_token", JsonKinds.Boolean),
        new("return_tokens", JsonKinds.Boolean),
        new("post_sampling_probs", JsonKinds.Boolean),
        new("grammar_lazy", JsonKinds.Boolean),
        new("parse_tool_calls", JsonKinds.Boolean),
        new("echo", JsonKinds.Boolean),
        new("ignore_eos", JsonKinds.Boolean),
        new("reasoning_control", JsonKinds.Boolean),
        new("sse_ping_interval", JsonKinds.Number, Min: -1, Max: Int32Max),
        new("n_indent", JsonKinds.Number, Min: 0, Max: Int32Max),
        new("n_keep", JsonKinds.Number, Min: -1, Max: Int32Max),
        new("n_discard", JsonKinds.Number, Min: 0, Max: Int32Max),
        new("n_cache_reuse", JsonKinds.Number, Min: 0, Max: Int32Max),
        new("t_max_predict_ms", JsonKinds.Number, Min: -1, Max: long.MaxValue),
        new("top_k", JsonKinds.Number, Min: Int32Min, Max: Int32Max),
        new("top_p", JsonKinds.Number),
        new("min_p", JsonKinds.Number),
        new("top_n_sigma", JsonKinds.Number),
        new("xtc_probability", JsonKinds.Number),
        new("xtc_threshold", JsonKinds.Number),
        new("typical_p", JsonKinds.Number),
        new("temperature", JsonKinds.Number),
        new("dynatemp_range", JsonKinds.Number),
        new("dynatemp_exponent", JsonKinds.Number),
        new("repeat_last_n", JsonKinds.Number, Min: 0, Max: Int32Max),
        new("repeat_penalty", JsonKinds.Number),
        new("frequency_penalty", JsonKinds.Number),
        new("presence_penalty", JsonKinds.Number),
        new("dry_multiplier", JsonKinds.Number),
        new("dry_base", JsonKinds.Number),
        new("dry_allowed_length", JsonKinds.Number, Min: 0, Max: Int32Max),
        new("dry_penalty_last_n", JsonKinds.Number, Min: 0, Max: Int32Max),
        new("mirostat", JsonKinds.Number, Min: Int32Min, Max: Int32Max),
        new("mirostat_tau", JsonKinds.Number),
        new("mirostat_eta", JsonKinds.Number),
        new("adaptive_target", JsonKinds.Number),
        new("adaptive_decay", JsonKinds.Number, Min: 0, Max: 0.99),
        new("seed", JsonKinds.Number, Min: Int32Min, Max: uint.MaxValue),
        new("min_keep", JsonKinds.Number, Min: 0, Max: Int32Max),
        new("reasoning_budget_tokens", JsonKinds.Number, Min: -1, Max: Int32Max),
        new("chat_format", JsonKinds.Number, Min: Int32Min, Max: Int32Max),
        new("dry_sequence_breakers", JsonKinds.Array),
        new("json_schema", JsonKinds.Object | JsonKinds.Boolean),
        new("grammar", JsonKinds.String),
        new("samplers", JsonKinds.String | JsonKinds.Array),
        new("stop", JsonKinds.String | JsonKinds.Array),
        new("logit_bias", JsonKinds.Object | JsonKinds.Array),
        new("preserved_tokens", JsonKinds.Array),
        new("grammar_triggers", JsonKinds.Array),
        new("reasoning_format", JsonKinds.String),
        new("generation_prompt", JsonKinds.String),
        new("chat_parser", JsonKinds.String),
        new("continue_final_message", JsonKinds.Boolean | JsonKinds.String),
        new("reasoning_budget_start_tag", JsonKinds.String),
        new("reasoning_budget_end_tags", JsonKinds.Array),
        new("reasoning_budget_end_tag", JsonKinds.String),
        new("reasoning_budget_message", JsonKinds.String),
    ];
}
