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

    // Folding state. Reminder texts wait in _foldTexts (_foldStarts[i] is where the i-th begins) for the user message
    // held in _side, or, while no user message is held, for the next message (prepended, or a converted message).
    private ScratchBuffer _foldTexts;
    private int[]? _foldStarts;
    private int _foldCount;
    private PooledBuffer? _side;
    private readonly JsonTapeRecorder? _sideTape;
    private HeldMessage _held;
    private readonly ReadOnlySpan<byte> _body;
    private readonly UnchangedValueCache? _cache;
    private int _cacheHits;
    private int _cacheMisses;

    /// <summary>The last container found in the cache, unless a large one missed since: where the next one is guessed from.</summary>
    private CachedValue? _lastHit;

    public NormalizationPass(
        ReadOnlySpan<byte> body, ApiRoute route, BillingHeaderMode mode, ReadOnlySpan<byte> billingValue, bool fold, PooledBuffer output,
        JsonTapeRecorder? tape = null, UnchangedValueCache? cache = null)
    {
        _body = body;
        _cache = cache;
        _reader = new JsonTokenizer(body, RequestNormalizer.MaxDepth);
        _out = new JsonEmitter(output, tape);

        // A user message written with reminders prepended goes to the side buffer: its entries are recorded there and moved over with it.
        _sideTape = tape is null ? null : new JsonTapeRecorder(4096);
        _route = route;
        _mode = mode;
        _billingValue = billingValue;
        _fold = fold && route != ApiRoute.Completion;
    }

    private enum ContentKind : byte
    {
        Absent,
        Null,
        EmptyString,
        String,
        EmptyArray,
        Array,
        Other,
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
        _cache?.CountLookups(_cacheHits, _cacheMisses);
    }

    public void Dispose()
    {
        _unescaped.Dispose();
        _rewritten.Dispose();
        _foldTexts.Dispose();
        if (_foldStarts is not null)
        {
            ArrayPool<int>.Shared.Return(_foldStarts);
        }

        _side?.Dispose();
        _sideTape?.Dispose();
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

    /// <summary>
    /// Copies <c>messages</c>, folding system messages into user turns in the same single pass. A reminder goes to the
    /// PRECEDING user message first, on purpose: Claude Code sends [user, system, assistant, user, ...] and re-sends
    /// the same early messages every turn. Appending the reminder to the user turn before it keeps that turn's bytes
    /// identical in every later request, so turn N's prompt stays an exact prefix of turn N+1's and llama-server
    /// reuses its KV cache. Attaching to the FOLLOWING message instead would move the reminder whenever a new message
    /// arrives after it, changing an early part of the prompt every turn. Only without a user message before it does
    /// a reminder go to the start of the next user message, or, with neither, become a user message of its own.
    /// "Preceding" is the previous message as written out, so several system messages in a row join the same turn.
    /// To append without a lookahead pass, the latest user message is written to a side buffer and held until the
    /// next message that is not foldable; reminders are spliced into its content when it is released.
    /// </summary>
    private void RewriteMessages()
    {
        if (_reader.TokenType != JsonTokenType.StartArray)
        {
            throw new InvalidBodyException("messages must be an array");
        }

        var chat = _route == ApiRoute.ChatCompletions;
        var billingPending = chat;
        _out.StartArray();
        var index = 0;
        while (Next() != JsonTokenType.EndArray)
        {
            if (_reader.TokenType != JsonTokenType.StartObject)
            {
                throw Shape(index, " must be an object");
            }

            var role = _fold || billingPending ? PeekRole(index) : MessageRole.Other;
            var isSystem = role == MessageRole.System || (chat && role == MessageRole.Developer);
            var billing = billingPending && isSystem;
            billingPending &= !isSystem;

            // In a chat body the first message is the real system prompt; Anthropic bodies have theirs in `system`.
            if (_fold && isSystem && !(chat && index == 0) && TryFold(index, billing))
            {
                if (_held is { Active: true, InPlace: true })
                {
                    MoveHeldAside();
                }

                index++;
                continue;
            }

            if (_held.Active)
            {
                ReleaseHeld();
            }

            var prepend = _foldCount > 0 && role == MessageRole.User;
            if (_foldCount > 0 && !prepend)
            {
                WriteConvertedMessage();
            }

            if (_fold && role == MessageRole.User)
            {
                HoldUserMessage(index, prepend);
            }
            else if (billing)
            {
                CopyBillingMessage(index);
            }
            else
            {
                CopyValue();
            }

            index++;
        }

        if (_held.Active)
        {
            ReleaseHeld();
        }

        if (_foldCount > 0)
        {
            WriteConvertedMessage();
        }

        _out.EndArray();
    }

    /// <summary>The role of the message at the reader, without moving it; quick when "role" comes first, as clients send it.</summary>
    private readonly MessageRole PeekRole(int index)
    {
        var reader = _reader;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isRole = reader.ValueTextEquals("role"u8);
            reader.Read();
            if (!isRole)
            {
                // The main pass reads all of it again, validating; here only the structure matters.
                reader.SkipUnvalidated();
                continue;
            }

            if (reader.TokenType != JsonTokenType.String && _fold)
            {
                throw Shape(index, ".role must be a string");
            }

            return MessageRoles.Classify(ref reader);
        }

        return MessageRole.Other;
    }

    /// <summary>
    /// Reads the system message at the reader into a waiting reminder. Returns false, with the reader back where it
    /// was, when the message holds something other than text (it is then copied as it is).
    /// </summary>
    private bool TryFold(int index, bool billing)
    {
        var start = _reader;
        var mark = _foldTexts.Length;
        var linesBefore = BillingLines;
        _foldTexts.Append("<system-reminder>\n"u8);
        while (Next() == JsonTokenType.PropertyName)
        {
            var isContent = _reader.ValueTextEquals("content"u8);
            Next();
            if (!isContent)
            {
                _reader.Skip();
            }
            else if (!AppendReminderText(index, billing))
            {
                _reader = start;
                _foldTexts.Truncate(mark);
                BillingLines = linesBefore;
                return false;
            }
        }

        _foldTexts.Append("\n</system-reminder>"u8);
        _foldStarts ??= ArrayPool<int>.Shared.Rent(8);
        if (_foldCount == _foldStarts.Length)
        {
            var grown = ArrayPool<int>.Shared.Rent(_foldCount * 2);
            _foldStarts.AsSpan().CopyTo(grown);
            ArrayPool<int>.Shared.Return(_foldStarts);
            _foldStarts = grown;
        }

        _foldStarts[_foldCount++] = mark;
        return true;
    }

    /// <summary>
    /// Appends a system message's content as reminder text: a string as it is, text parts joined with "\n", so the
    /// string and array forms (Claude Code alternates between them across turns) fold to identical bytes.
    /// cache_control on the message is dropped for the same reason. False for content other than text.
    /// </summary>
    private bool AppendReminderText(int index, bool billing)
    {
        switch (_reader.TokenType)
        {
            case JsonTokenType.String:
                AppendTextWithBilling(billing);
                return true;
            case JsonTokenType.Null:
                return true;
            case JsonTokenType.StartArray:
                break;
            default:
                throw Shape(index, ".content must be a string or an array");
        }

        var part = 0;
        var first = true;
        while (Next() != JsonTokenType.EndArray)
        {
            if (_reader.TokenType != JsonTokenType.StartObject)
            {
                throw Shape(index, $".content[{part}] must be an object");
            }

            var mark = _foldTexts.Length;
            if (!first)
            {
                _foldTexts.Append((byte)'\n');
            }

            var isText = true;
            var hasText = false;
            var emptied = false;
            while (Next() == JsonTokenType.PropertyName)
            {
                if (_reader.ValueTextEquals("type"u8))
                {
                    Next();
                    isText = _reader.TokenType == JsonTokenType.String && _reader.ValueTextEquals("text"u8);
                    _reader.Skip();
                }
                else if (_reader.ValueTextEquals("text"u8))
                {
                    Next();
                    if (_reader.TokenType != JsonTokenType.String)
                    {
                        throw Shape(index, $".content[{part}].text must be a string");
                    }

                    emptied = AppendTextWithBilling(billing);
                    hasText = true;
                }
                else
                {
                    Next();
                    _reader.Skip();
                }
            }

            if (!isText || !hasText)
            {
                return false;
            }

            if (emptied)
            {
                _foldTexts.Truncate(mark);
            }
            else
            {
                first = false;
            }

            part++;
        }

        return true;
    }

    /// <summary>Appends the string at the reader to the reminder text, billing line handled if asked; true when that left nothing.</summary>
    private bool AppendTextWithBilling(bool billing)
    {
        var text = _unescaped.Unescape(ref _reader);
        if (billing)
        {
            var before = _foldTexts.Length;
            var lines = BillingLine.Rewrite(text, anyLine: false, _mode, _billingValue, ref _foldTexts);
            if (lines > 0)
            {
                BillingLines += lines;
                return _foldTexts.Length == before;
            }
        }

        _foldTexts.Append(text);
        return false;
    }

    /// <summary>
    /// Writes the user message at the reader (waiting reminders first in its content when <paramref name="prepend"/>)
    /// and notes where its content is, for <see cref="ReleaseHeld"/>. With nothing waiting it goes straight to the
    /// output, since most user messages have no system message after them (Claude Code's tool results): only when one
    /// follows is it moved to the side buffer (<see cref="MoveHeldAside"/>). Copying every user message through the
    /// side buffer cost a second copy of most of the body.
    /// </summary>
    private void HoldUserMessage(int index, bool prepend)
    {
        var inPlace = !prepend;
        var main = _out;
        if (inPlace)
        {
            _held = new HeldMessage
            {
                Active = true, InPlace = true, Index = index, Content = ContentKind.Absent,
                Start = _out.Position, CommaBefore = _out.NeedsComma, TapeMark = _out.Tape?.Count ?? 0,
            };
        }
        else
        {
            _side ??= new PooledBuffer();
            _side.Clear();
            _sideTape?.Reset();
            _out = new JsonEmitter(_side, _sideTape);
            _held = new HeldMessage { Active = true, Index = index, Content = ContentKind.Absent };
        }

        _out.StartObject();
        while (Next() == JsonTokenType.PropertyName)
        {
            var isContent = _reader.ValueTextEquals("content"u8);
            WritePropertyName();
            Next();
            if (!isContent)
            {
                CopyValue();
                continue;
            }

            _held.ContentStart = (int)(_out.Position - _held.ObjectStart);
            _held.Content = prepend ? ContentKind.Array : _reader.TokenType switch
            {
                JsonTokenType.String => _reader.ValueSpan.IsEmpty ? ContentKind.EmptyString : ContentKind.String,
                JsonTokenType.StartArray => ContentKind.Array,
                JsonTokenType.Null => ContentKind.Null,
                _ => ContentKind.Other,
            };
            if (prepend)
            {
                WriteContentWithPrepends(index);
            }
            else
            {
                CopyValue();
            }

            _held.ContentEnd = (int)(_out.Position - _held.ObjectStart);
            if (_held.Content == ContentKind.Array && _held.ContentEnd - _held.ContentStart == 2)
            {
                _held.Content = ContentKind.EmptyArray;
            }
        }

        if (prepend && _held.Content == ContentKind.Absent)
        {
            _out.PropertyNameRaw("content"u8);
            _out.StartArray();
            WriteFolds();
            _out.EndArray();
        }

        _out.EndObject();
        if (!inPlace)
        {
            _out.Flush();
            _out = main;
        }

        if (prepend)
        {
            ClearFolds();
        }
    }

    /// <summary>
    /// A system message followed the user message held in place, so reminders will be spliced into it: it moves from
    /// the output to the side buffer. Its tape entries are dropped, not moved: the spliced message is recorded anew
    /// when it is released (<see cref="JsonEmitter.EndRawValue"/>).
    /// </summary>
    private void MoveHeldAside()
    {
        _side ??= new PooledBuffer();
        _side.Clear();
        _out.Tape?.TakeBack(_held.TapeMark);
        _out.MoveTail(_held.Start, _held.ObjectStart, _held.CommaBefore, _side);
        _held.InPlace = false;
    }

    /// <summary>A user message's content with the waiting reminders first; a string becomes <c>[{"type":"text","text":...}]</c>.</summary>
    private void WriteContentWithPrepends(int index)
    {
        _out.StartArray();
        WriteFolds();
        switch (_reader.TokenType)
        {
            case JsonTokenType.String:
                // An empty text block is an error for some servers; "" holds nothing worth keeping.
                if (!_reader.ValueSpan.IsEmpty)
                {
                    WriteTextBlockFromString();
                }

                break;
            case JsonTokenType.StartArray:
                while (Next() != JsonTokenType.EndArray)
                {
                    CopyValue();
                }

                break;
            case JsonTokenType.Null:
                break;
            default:
                throw Shape(index, ".content must be a string or an array");
        }

        _out.EndArray();
    }

    /// <summary>Writes the held user message to the output with the waiting reminders at the end of its content.</summary>
    private void ReleaseHeld()
    {
        _held.Active = false;
        if (_held.InPlace)
        {
            // Already in the output, and nothing to splice into it: a fold would have moved it aside.
            return;
        }

        var held = _side!.WrittenSpan;
        if (_foldCount == 0)
        {
            _out.RawValue(held, _sideTape);
            return;
        }

        var start = _held.ContentStart;
        var end = _held.ContentEnd;

        // Room for the held bytes, the reminders however they escape (6 bytes per byte at most) and the glue around them.
        _out.BeginRawValue(held.Length + (_foldTexts.Length * 6) + (_foldCount * 48) + 64);
        switch (_held.Content)
        {
            case ContentKind.Array or ContentKind.EmptyArray:
                _out.Raw(held[..(end - 1)]);
                _out.ContinueList(_held.Content == ContentKind.Array);
                break;
            case ContentKind.String:
                _out.Raw(held[..start]);
                _out.Raw("""[{"type":"text","text":"""u8);
                _out.Raw(held[start..end]);
                _out.Raw("}"u8);
                _out.ContinueList(true);
                break;
            case ContentKind.EmptyString or ContentKind.Null:
                _out.Raw(held[..start]);
                _out.Raw("["u8);
                _out.ContinueList(false);
                break;
            case ContentKind.Absent:
                _out.Raw(held[..^1]);
                _out.Raw(held.Length > 2 ? ",\"content\":["u8 : "\"content\":["u8);
                _out.ContinueList(false);
                break;
            default:
                throw Shape(_held.Index, ".content must be a string or an array");
        }

        WriteFolds();
        _out.Raw("]"u8);
        _out.Raw(_held.Content == ContentKind.Absent ? "}"u8 : held[end..]);
        _out.EndRawValue();
        ClearFolds();
    }

    /// <summary>Waiting reminders with no user message before or after them, as a user message of their own.</summary>
    private void WriteConvertedMessage()
    {
        _out.StartObject();
        _out.PropertyNameRaw("role"u8);
        _out.StringRaw("user"u8);
        _out.PropertyNameRaw("content"u8);
        _out.StartArray();
        WriteFolds();
        _out.EndArray();
        _out.EndObject();
        ClearFolds();
    }

    private void WriteFolds()
    {
        var texts = _foldTexts.WrittenSpan;
        for (var i = 0; i < _foldCount; i++)
        {
            var end = i + 1 < _foldCount ? _foldStarts![i + 1] : texts.Length;
            _out.StartObject();
            _out.PropertyNameRaw("type"u8);
            _out.StringRaw("text"u8);
            _out.PropertyNameRaw("text"u8);
            _out.String(texts[_foldStarts![i]..end]);
            _out.EndObject();
        }

        Folded += _foldCount;
    }

    private void ClearFolds()
    {
        _foldCount = 0;
        _foldTexts.Clear();
    }

    private void WriteTextBlockFromString()
    {
        _out.StartObject();
        _out.PropertyNameRaw("type"u8);
        _out.StringRaw("text"u8);
        _out.PropertyNameRaw("text"u8);
        CopyString();
        _out.EndObject();
    }

    /// <summary>The ChatCompletions system/developer message whose content may start with the billing line.</summary>
    private void CopyBillingMessage(int index)
    {
        _out.StartObject();
        while (Next() == JsonTokenType.PropertyName)
        {
            var isContent = _reader.ValueTextEquals("content"u8);
            WritePropertyName();
            Next();
            if (isContent)
            {
                RewriteSystemContent(index);
            }
            else
            {
                CopyValue();
            }
        }

        _out.EndObject();
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

    /// <summary>
    /// Containers copied unchanged this near the root are looked up in, and offered to, <see cref="UnchangedValueCache"/>:
    /// the tools array (depth 1), a message (2), a held user message's content (3), a block written after reminders (4).
    /// Only that outermost container: its children are copied in the scan and never cached on their own, or every
    /// byte would be kept twice or three times (message, content, block) and a busy gateway's working set would not
    /// fit. What changes from turn to turn is whole messages, so the outermost level is where the reuse is.
    /// </summary>
    private const int MaxCachedDepth = 5;

    /// <summary>Copies the value at the reader (a scalar, or a whole object/array) to the writer unchanged.</summary>
    private void CopyValue()
    {
        if (_cache is not null && _reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && _reader.CurrentDepth <= MaxCachedDepth)
        {
            CopyContainerCached(_cache);
            return;
        }

        CopyScanned();
    }

    /// <summary>The value at the reader, token by token.</summary>
    private void CopyScanned()
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

    /// <summary>
    /// The container at the reader, from the cache when it holds these bytes; otherwise copied and, when large and
    /// written exactly as read, offered to the cache with its tape entries.
    /// </summary>
    private void CopyContainerCached(UnchangedValueCache cache)
    {
        var start = (int)_reader.TokenStartIndex;
        var hit = cache.Find(_body, start, _lastHit);
        if (hit is not null && _reader.FitsNesting(hit.Deepest))
        {
            _out.WriteCached(hit);
            _reader.SkipValidatedContainer(hit.Bytes.Length);
            _cacheHits++;
            _lastHit = hit;
            return;
        }

        var tape = _out.Tape;
        var first = tape is { IsValid: true } ? tape.Count : -1;
        CopyScanned();

        var length = (int)_reader.TokenStartIndex + 1 - start;
        if (length < UnchangedValueCache.MinBytes)
        {
            return;
        }

        _cacheMisses++;

        // A new value breaks the sequence: linking across it would point the guess at what follows it this once.
        _lastHit = null;

        // Only a value written byte for byte as read (compact, as clients send it) can stand in for those bytes later.
        if (first >= 0 && tape!.IsValid && _out.Position - tape.Entries[first].Start == length)
        {
            cache.Add(_body.Slice(start, length), tape.Entries[first..], first);
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
    private void CopyString() => _out.StringRaw(_reader.ValueSpan, _reader.ValueIsEscaped, _reader.ValueUtf16Length);

    /// <summary>Where the user message held for folding keeps its content, in the side buffer.</summary>
    private struct HeldMessage
    {
        public bool Active;

        /// <summary>Written in place in the output (not in the side buffer), from <see cref="Start"/> on.</summary>
        public bool InPlace;

        /// <summary>Output position before the message's separator, and whether it has one.</summary>
        public long Start;
        public bool CommaBefore;

        /// <summary>Output position of the message's '{'; content offsets count from it (0 in the side buffer).</summary>
        public readonly long ObjectStart => Start + (CommaBefore ? 1 : 0);

        /// <summary>The output tape's entry count before the message.</summary>
        public int TapeMark;
        public int Index;
        public ContentKind Content;
        public int ContentStart;
        public int ContentEnd;
    }

    private void WritePropertyName() => _out.PropertyNameRaw(_reader.ValueSpan, _reader.ValueIsEscaped, _reader.ValueUtf16Length);
}
