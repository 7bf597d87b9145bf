using System.Buffers;
using System.Text.Json;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Normalization;

/// <summary>
/// One streaming rewrite of a request body, tokenizer to emitter, token by token. Only the billing line and folded system
/// messages change; everything else is re-emitted as read (order, unknown fields, duplicate keys, raw numbers).
/// Throws <see cref="InvalidBodyException"/> or <see cref="JsonException"/> for bad input; the caller maps them.
/// </summary>
internal ref struct NormalizationPass
{
    private const int SystemField = -1;

    private JsonTokenizer _reader;
    private JsonEmitter _out;
    private readonly ApiRoute _route;
    private readonly BillingHeaderMode _mode;
    private readonly ReadOnlySpan<byte> _billingValue;
    private readonly bool _fold;
    private ScratchBuffer _unescaped;
    private ScratchBuffer _rewritten;
    private FoldPlan _plan;

    public NormalizationPass(
        ReadOnlySpan<byte> body, ApiRoute route, BillingHeaderMode mode, ReadOnlySpan<byte> billingValue, bool fold, IBufferWriter<byte> output)
    {
        _reader = new JsonTokenizer(body, RequestNormalizer.MaxDepth);
        _out = new JsonEmitter(output);
        _route = route;
        _mode = mode;
        _billingValue = billingValue;
        _fold = fold && route != ApiRoute.Completion;
        _plan = _fold ? new FoldPlan() : default;
    }

    private enum TopLevelField
    {
        Other,
        System,
        Messages,
        Prompt,
    }

    public int BillingLines { get; private set; }

    public int Folded { get; private set; }

    /// <summary>Where the reader is, for error messages.</summary>
    public readonly long Position => _reader.TokenStartIndex;

    public void Run()
    {
        _reader.Read();
        if (_reader.TokenType != JsonTokenType.StartObject)
        {
            throw new InvalidBodyException("request body must be a JSON object");
        }

        _out.StartObject();
        while (Next() == JsonTokenType.PropertyName)
        {
            var field = ClassifyTopLevel();
            WritePropertyName();
            Next();
            switch (field)
            {
                case TopLevelField.System:
                    RewriteAnthropicSystem();
                    break;
                case TopLevelField.Messages:
                    RewriteMessages();
                    break;
                case TopLevelField.Prompt:
                    RewritePrompt();
                    break;
                default:
                    CopyValue();
                    break;
            }
        }

        _out.EndObject();

        // Throws if anything but whitespace follows the object.
        _reader.Read();
        _out.Flush();
    }

    public void Dispose()
    {
        _unescaped.Dispose();
        _rewritten.Dispose();
        if (_fold)
        {
            _plan.Dispose();
        }
    }

    private static InvalidBodyException Shape(int message, string what) =>
        new(message == SystemField ? $"system{what}" : $"messages[{message}]{what}");

    private TopLevelField ClassifyTopLevel() => _route switch
    {
        ApiRoute.Messages or ApiRoute.CountTokens when _reader.ValueTextEquals("system"u8) => TopLevelField.System,
        ApiRoute.Messages or ApiRoute.CountTokens or ApiRoute.ChatCompletions when _reader.ValueTextEquals("messages"u8) => TopLevelField.Messages,
        ApiRoute.Completion when _reader.ValueTextEquals("prompt"u8) => TopLevelField.Prompt,
        _ => TopLevelField.Other,
    };

    private JsonTokenType Next()
    {
        if (!_reader.Read())
        {
            throw new InvalidBodyException("request body ends early");
        }

        return _reader.TokenType;
    }

    private void RewriteAnthropicSystem()
    {
        switch (_reader.TokenType)
        {
            case JsonTokenType.String:
                WriteTextWithBilling(anyLine: false);
                break;
            case JsonTokenType.StartArray:
                RewriteTextBlocks(SystemField);
                break;
            case JsonTokenType.Null:
                _out.Literal("null"u8);
                break;
            default:
                throw new InvalidBodyException("system must be a string or an array of text blocks");
        }
    }

    private void RewritePrompt()
    {
        switch (_reader.TokenType)
        {
            case JsonTokenType.String:
                WriteTextWithBilling(anyLine: true);
                break;
            case JsonTokenType.StartArray:
                // llama-server also takes several prompts, token ids, or a mix: rewrite the strings, keep the rest.
                _out.StartArray();
                while (Next() != JsonTokenType.EndArray)
                {
                    if (_reader.TokenType == JsonTokenType.String)
                    {
                        WriteTextWithBilling(anyLine: true);
                    }
                    else
                    {
                        CopyValue();
                    }
                }

                _out.EndArray();
                break;
            case JsonTokenType.StartObject:
                CopyValue();
                break;
            default:
                throw new InvalidBodyException("prompt must be a string or an array");
        }
    }

    private void RewriteMessages()
    {
        if (_reader.TokenType != JsonTokenType.StartArray)
        {
            throw new InvalidBodyException("messages must be an array");
        }

        var chat = _route == ApiRoute.ChatCompletions;
        var firstSystem = _fold ? PlanFolds(chat) : -1;
        var billingPending = chat && !_fold;

        _out.StartArray();
        var index = 0;
        while (Next() != JsonTokenType.EndArray)
        {
            if (_reader.TokenType != JsonTokenType.StartObject)
            {
                throw Shape(index, " must be an object");
            }

            if (_fold && _plan.IsRemoved(index))
            {
                _reader.Skip();
            }
            else if (_fold && _plan.IsConverted(index))
            {
                _reader.Skip();
                WriteConvertedMessage(index);
            }
            else
            {
                var billing = index == firstSystem;
                if (billingPending && PeekRole() is MessageRole.System or MessageRole.Developer)
                {
                    billing = true;
                    billingPending = false;
                }

                var reminders = _fold && _plan.ReceivesReminders(index);
                if (billing || reminders)
                {
                    CopyMessage(index, billing, reminders);
                }
                else
                {
                    CopyValue();
                }
            }

            index++;
        }

        _out.EndArray();
    }

    /// <summary>
    /// The lookahead over <c>messages</c> (reader on its '['): records roles, extracts each foldable system message's
    /// text as a reminder and resolves targets. Returns the index of the ChatCompletions message whose billing line to
    /// rewrite (-1 when none or when that message was folded and its line handled here).
    /// </summary>
    private int PlanFolds(bool chat)
    {
        _plan.Clear();
        var reader = _reader;
        var index = 0;
        var firstSystem = -1;
        var billingAssigned = false;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw Shape(index, " must be an object");
            }

            var role = MessageRole.Other;
            var content = default(JsonTokenizer);
            var hasContent = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("role"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw Shape(index, ".role must be a string");
                    }

                    role = MessageRoles.Classify(ref reader);
                }
                else if (reader.ValueTextEquals("content"u8))
                {
                    reader.Read();
                    content = reader;
                    hasContent = true;
                    reader.SkipUnvalidated();
                }
                else
                {
                    // The main pass reads all of it again, validating; here only the structure matters.
                    reader.Read();
                    reader.SkipUnvalidated();
                }
            }

            var isSystem = role == MessageRole.System || (chat && role == MessageRole.Developer);
            var billing = chat && isSystem && !billingAssigned;
            if (billing)
            {
                billingAssigned = true;
                firstSystem = index;
            }

            // In a chat body the first message is the real system prompt; Anthropic bodies have theirs in `system`.
            var foldable = isSystem && !(chat && index == 0);
            var textStart = _plan.Texts.Length;
            if (foldable)
            {
                var linesBefore = BillingLines;
                foldable = AppendReminder(ref content, hasContent, index, billing);
                if (!foldable)
                {
                    BillingLines = linesBefore;
                }
                else if (billing)
                {
                    firstSystem = -1;
                }
            }

            _plan.Add(role, foldable, textStart);
            index++;
        }

        _plan.Resolve();
        return firstSystem;
    }

    /// <summary>
    /// Appends a system message's reminder text to the plan: its string content, or its text parts joined with "\n",
    /// so the string and array forms (Claude Code alternates between them across turns) fold to identical bytes.
    /// cache_control on the message is dropped for the same reason. Returns false (leave the message alone) when it
    /// holds something other than text.
    /// </summary>
    private bool AppendReminder(ref JsonTokenizer content, bool hasContent, int index, bool billing)
    {
        ref var texts = ref _plan.Texts;
        var start = texts.Length;
        texts.Append("<system-reminder>\n"u8);
        var type = hasContent ? content.TokenType : JsonTokenType.Null;
        switch (type)
        {
            case JsonTokenType.String:
                AppendTextWithBilling(ref content, billing, ref texts);
                break;
            case JsonTokenType.Null:
                break;
            case JsonTokenType.StartArray:
                var part = 0;
                var first = true;
                while (content.Read() && content.TokenType != JsonTokenType.EndArray)
                {
                    if (content.TokenType != JsonTokenType.StartObject)
                    {
                        throw Shape(index, $".content[{part}] must be an object");
                    }

                    var mark = texts.Length;
                    if (!first)
                    {
                        texts.Append((byte)'\n');
                    }

                    var isText = true;
                    var hasText = false;
                    var emptied = false;
                    while (content.Read() && content.TokenType == JsonTokenType.PropertyName)
                    {
                        if (content.ValueTextEquals("type"u8))
                        {
                            content.Read();
                            isText = content.TokenType == JsonTokenType.String && content.ValueTextEquals("text"u8);
                            content.Skip();
                        }
                        else if (content.ValueTextEquals("text"u8))
                        {
                            content.Read();
                            if (content.TokenType != JsonTokenType.String)
                            {
                                throw Shape(index, $".content[{part}].text must be a string");
                            }

                            emptied = AppendTextWithBilling(ref content, billing, ref texts);
                            hasText = true;
                        }
                        else
                        {
                            content.Read();
                            content.Skip();
                        }
                    }

                    if (!isText || !hasText)
                    {
                        texts.Truncate(start);
                        return false;
                    }

                    if (emptied)
                    {
                        texts.Truncate(mark);
                    }
                    else
                    {
                        first = false;
                    }

                    part++;
                }

                break;
            default:
                throw Shape(index, ".content must be a string or an array");
        }

        texts.Append("\n</system-reminder>"u8);
        return true;
    }

    /// <summary>Appends a string token's text, billing line handled if asked; true when that left nothing.</summary>
    private bool AppendTextWithBilling(ref JsonTokenizer reader, bool billing, ref ScratchBuffer output)
    {
        var text = _unescaped.Unescape(ref reader);
        if (billing)
        {
            var before = output.Length;
            var lines = BillingLine.Rewrite(text, anyLine: false, _mode, _billingValue, ref output);
            if (lines > 0)
            {
                BillingLines += lines;
                return output.Length == before;
            }
        }

        output.Append(text);
        return false;
    }

    private readonly MessageRole PeekRole()
    {
        var reader = _reader;
        var depth = reader.CurrentDepth;
        var role = MessageRole.Other;
        while (reader.Read() && reader.CurrentDepth > depth)
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("role"u8))
            {
                reader.Read();
                role = MessageRoles.Classify(ref reader);
            }
            else if (reader.TokenType == JsonTokenType.PropertyName)
            {
                reader.Read();
                reader.Skip();
            }
        }

        return role;
    }

    private void CopyMessage(int index, bool billing, bool reminders)
    {
        _out.StartObject();
        var contentWritten = false;
        while (Next() == JsonTokenType.PropertyName)
        {
            var isContent = _reader.ValueTextEquals("content"u8);
            WritePropertyName();
            Next();
            if (!isContent)
            {
                CopyValue();
            }
            else if (reminders)
            {
                WriteContentWithReminders(index);
                contentWritten = true;
            }
            else
            {
                RewriteSystemContent(index);
            }
        }

        if (reminders && !contentWritten)
        {
            _out.PropertyNameRaw("content"u8);
            _out.StartArray();
            WriteReminders(index, FoldPlacement.PrependToFollowing);
            WriteReminders(index, FoldPlacement.AppendToPreceding);
            _out.EndArray();
        }

        _out.EndObject();
    }

    /// <summary>A user message's content with reminders added; a string becomes <c>[{"type":"text","text":...}]</c> first.</summary>
    private void WriteContentWithReminders(int index)
    {
        switch (_reader.TokenType)
        {
            case JsonTokenType.String:
                _out.StartArray();
                WriteReminders(index, FoldPlacement.PrependToFollowing);
                // An empty text block is an error for some servers; "" holds nothing worth keeping.
                if (_reader.ValueSpan.Length > 0)
                {
                    _out.StartObject();
                    _out.PropertyNameRaw("type"u8);
                    _out.StringRaw("text"u8);
                    _out.PropertyNameRaw("text"u8);
                    CopyString();
                    _out.EndObject();
                }

                WriteReminders(index, FoldPlacement.AppendToPreceding);
                _out.EndArray();
                break;
            case JsonTokenType.StartArray:
                _out.StartArray();
                WriteReminders(index, FoldPlacement.PrependToFollowing);
                while (Next() != JsonTokenType.EndArray)
                {
                    CopyValue();
                }

                WriteReminders(index, FoldPlacement.AppendToPreceding);
                _out.EndArray();
                break;
            case JsonTokenType.Null:
                _out.StartArray();
                WriteReminders(index, FoldPlacement.PrependToFollowing);
                WriteReminders(index, FoldPlacement.AppendToPreceding);
                _out.EndArray();
                break;
            default:
                throw Shape(index, ".content must be a string or an array");
        }
    }

    /// <summary>A system message with no user neighbour, re-emitted as a user message holding its reminder(s).</summary>
    private void WriteConvertedMessage(int index)
    {
        _out.StartObject();
        _out.PropertyNameRaw("role"u8);
        _out.StringRaw("user"u8);
        _out.PropertyNameRaw("content"u8);
        _out.StartArray();
        WriteReminders(index, FoldPlacement.OwnUserMessage);
        WriteReminders(index, FoldPlacement.AppendToPreceding);
        _out.EndArray();
        _out.EndObject();
    }

    private void WriteReminders(int target, FoldPlacement placement)
    {
        var cursor = 0;
        while (_plan.NextReminder(target, placement, ref cursor, out var text))
        {
            _out.StartObject();
            _out.PropertyNameRaw("type"u8);
                    _out.StringRaw("text"u8);
            _out.PropertyNameRaw("text"u8);
            _out.String(text);
            _out.EndObject();
            Folded++;
        }
    }

    /// <summary>The content of the ChatCompletions system/developer message that carries the billing line.</summary>
    private void RewriteSystemContent(int index)
    {
        switch (_reader.TokenType)
        {
            case JsonTokenType.String:
                WriteTextWithBilling(anyLine: false);
                break;
            case JsonTokenType.StartArray:
                RewriteTextBlocks(index);
                break;
            case JsonTokenType.Null:
                _out.Literal("null"u8);
                break;
            default:
                throw Shape(index, ".content must be a string or an array");
        }
    }

    /// <summary>An array of text blocks (Anthropic <c>system</c>, or OpenAI content parts) whose texts may start with the billing line.</summary>
    private void RewriteTextBlocks(int message)
    {
        var field = message == SystemField ? string.Empty : ".content";
        var block = 0;
        _out.StartArray();
        while (Next() != JsonTokenType.EndArray)
        {
            if (_reader.TokenType != JsonTokenType.StartObject)
            {
                throw Shape(message, $"{field}[{block}] must be an object");
            }

            if (_mode == BillingHeaderMode.Strip && HoldsOnlyBillingLine())
            {
                // A block with nothing left would be an empty text block, which servers reject: drop it whole.
                _reader.Skip();
                BillingLines++;
                block++;
                continue;
            }

            _out.StartObject();
            while (Next() == JsonTokenType.PropertyName)
            {
                var isText = _reader.ValueTextEquals("text"u8);
                WritePropertyName();
                Next();
                if (!isText)
                {
                    CopyValue();
                }
                else if (_reader.TokenType == JsonTokenType.String)
                {
                    WriteTextWithBilling(anyLine: false);
                }
                else
                {
                    throw Shape(message, $"{field}[{block}].text must be a string");
                }
            }

            _out.EndObject();
            block++;
        }

        _out.EndArray();
    }

    /// <summary>Looks ahead into the block at the reader: is its text the billing line alone?</summary>
    private bool HoldsOnlyBillingLine()
    {
        var reader = _reader;
        var depth = reader.CurrentDepth;
        var only = false;
        while (reader.Read() && reader.CurrentDepth > depth)
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            var isText = reader.ValueTextEquals("text"u8);
            reader.Read();
            if (isText && reader.TokenType == JsonTokenType.String)
            {
                only = BillingLine.MayStartWith(reader.ValueSpan) && BillingLine.IsAllOfText(_unescaped.Unescape(ref reader));
            }
            else
            {
                reader.Skip();
            }
        }

        return only;
    }

    private void WriteTextWithBilling(bool anyLine)
    {
        if (_mode == BillingHeaderMode.Keep || (!anyLine && !BillingLine.MayStartWith(_reader.ValueSpan)))
        {
            CopyString();
            return;
        }

        var text = _unescaped.Unescape(ref _reader);
        _rewritten.Clear();
        var lines = BillingLine.Rewrite(text, anyLine, _mode, _billingValue, ref _rewritten);
        if (lines == 0)
        {
            CopyString();
            return;
        }

        BillingLines += lines;
        _out.String(_rewritten.WrittenSpan);
    }

    /// <summary>Copies the value at the reader (a scalar, or a whole object/array) to the writer unchanged.</summary>
    private void CopyValue()
    {
        var depth = _reader.CurrentDepth;
        CopyToken();
        if (_reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            do
            {
                Next();
                CopyToken();
            }
            while (_reader.CurrentDepth > depth);
        }
    }

    private void CopyToken()
    {
        switch (_reader.TokenType)
        {
            case JsonTokenType.StartObject:
                _out.StartObject();
                break;
            case JsonTokenType.EndObject:
                _out.EndObject();
                break;
            case JsonTokenType.StartArray:
                _out.StartArray();
                break;
            case JsonTokenType.EndArray:
                _out.EndArray();
                break;
            case JsonTokenType.PropertyName:
                WritePropertyName();
                break;
            case JsonTokenType.String:
                CopyString();
                break;
            case JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null:
                // Raw, so 1.0 stays 1.0 and big integers keep every digit; the tokenizer has validated it.
                _out.Literal(_reader.ValueSpan);
                break;
        }
    }

    // Strings and names are copied as read: already valid JSON, so re-escaping would only cost time.
    private void CopyString() => _out.StringRaw(_reader.ValueSpan);

    private void WritePropertyName() => _out.PropertyNameRaw(_reader.ValueSpan);
}
