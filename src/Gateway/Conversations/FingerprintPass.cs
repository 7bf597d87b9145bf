using System.Buffers;
using System.Text.Json;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Conversations;

/// <summary>
/// One forward pass over a normalized body, replayed from its tape, that digests its canonical content: content as
/// blocks (a string content is one text block), cache_control and citations ignored, strings and other values as the
/// normalized body writes them. Messages come before system and tools in Claude Code bodies, so each message is
/// digested on its own and the chain is linked to the prefix key at the end.
/// Strings are hashed as written, escapes and all, not decoded: a client writes the same text the same way every turn
/// (and the normalizer and translator keep its escapes), so decoding ~100 KB per request (a third of this pass) bought
/// nothing; character counts come from the tape, which counted them while scanning.
/// </summary>
internal ref struct FingerprintPass
{
    /// <summary>Raw-prompt chunk size in UTF-16 code units: the prefix key covers the first chunk, each full chunk after it adds a link.</summary>
    public const int PromptChunkChars = 1024;

    // Domain separation: the same bytes hashed in different roles must not collide. Digests live only in memory (the
    // conversation table, the slots, the saved-state index), so changing the canonical encoding needs no migration.
    private const ulong StringSeed = 0x737472696E677631; // "stringv1"
    private const ulong ValueSeed = 0x76616C756576310A;
    private const ulong ContentSeed = 0x636F6E74656E7431;
    private const ulong MessageSeed = 0x6D65737361676531;
    private const ulong ToolSeed = 0x746F6F6C76310A0A;
    private const ulong ToolsSeed = 0x746F6F6C73763101;
    private const ulong SystemSeed = 0x73797374656D7631;
    private const ulong PrefixSeed = 0x7072656669787631;
    private const ulong PromptSeed = 0x70726F6D70747631;

    /// <summary>tool_result content may hold blocks; deeper nesting than this is hashed as plain JSON (no recursion).</summary>
    private const int MaxContentNesting = 4;

    private static readonly ulong TextTypeDigest = Digests.Of("text"u8, StringSeed);

    private JsonTokenizer _reader;
    private readonly JsonTape _tape;
    private readonly ApiRoute _route;
    private ScratchBuffer _text;
    private ScratchBuffer _canonical;
    private ulong[] _links;
    private int[] _linkChars;
    private int _linkCount;
    private int _messagesBaseline;
    private int _messagesChars;
    private int _chars;
    private int _systemChars;
    private int _toolCount;
    private int _maxTokens;
    private string _model;
    private string? _clientId;
    private ulong _system;
    private bool _hasSystem;
    private ulong _tools;
    private bool _hasTools;
    private ulong _promptPrefix;
    private bool _lastIsQuotaProbe;

    public FingerprintPass(JsonTape body, ApiRoute route)
    {
        _tape = body;
        _reader = new JsonTokenizer(body);
        _route = route;
        _links = ArrayPool<ulong>.Shared.Rent(32);
        _linkChars = ArrayPool<int>.Shared.Rent(32);
        _maxTokens = -1;
        _model = string.Empty;
    }

    /// <summary>Null when the body is not a JSON object or its messages are not an array.</summary>
    public ConversationFingerprint? Run()
    {
        if (!_reader.Read() || _reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }

        var anthropic = _route is ApiRoute.Messages or ApiRoute.CountTokens;
        while (_reader.Read() && _reader.TokenType == JsonTokenType.PropertyName)
        {
            if (_reader.ValueTextEquals("messages"u8) && _route != ApiRoute.Completion)
            {
                _reader.Read();
                _messagesBaseline = _chars;
                if (!ReadMessages())
                {
                    return null;
                }

                _messagesChars = _chars - _messagesBaseline;
            }
            else if (anthropic && _reader.ValueTextEquals("system"u8))
            {
                _reader.Read();
                var before = _chars;
                _system = ContentDigest(0, out _);
                _hasSystem = _reader.TokenType != JsonTokenType.Null;
                _systemChars = _chars - before;
            }
            else if (_reader.ValueTextEquals("tools"u8) && _route != ApiRoute.Completion)
            {
                _reader.Read();
                ReadTools();
            }
            else if (_reader.ValueTextEquals("prompt"u8) && _route == ApiRoute.Completion)
            {
                _reader.Read();
                ReadPrompt();
            }
            else if (_reader.ValueTextEquals("metadata"u8))
            {
                _reader.Read();
                ReadMetadata();
            }
            else if (_reader.ValueTextEquals("model"u8))
            {
                _reader.Read();
                _model = _reader.TokenType == JsonTokenType.String ? _reader.GetString()! : string.Empty;
                _reader.Skip();
            }
            else if (_reader.ValueTextEquals("max_tokens"u8) || _reader.ValueTextEquals("max_completion_tokens"u8) || _reader.ValueTextEquals("n_predict"u8))
            {
                _reader.Read();
                if (_reader.TokenType == JsonTokenType.Number && _reader.TryGetInt64(out var max))
                {
                    _maxTokens = (int)Math.Clamp(max, int.MinValue, int.MaxValue);
                }

                _reader.Skip();
            }
            else
            {
                _reader.Read();
                _reader.Skip();
            }
        }

        // Throws if anything but whitespace follows the object.
        _reader.Read();

        var prefixKey = _route == ApiRoute.Completion ? _promptPrefix : PrefixKey();
        var chain = new ulong[_linkCount];
        var previous = prefixKey;
        for (var i = 0; i < _linkCount; i++)
        {
            chain[i] = previous = Digests.Combine(previous, _links[i]);
        }

        // Cumulative characters per link let the router price a partial prefix match. System and tools may come
        // after messages in the JSON, so link counts are taken relative to the messages and offset here.
        var chainChars = new int[_linkCount];
        var prefixChars = _route == ApiRoute.Completion ? Math.Min(_chars, PromptChunkChars) : _chars - _messagesChars;
        for (var i = 0; i < _linkCount; i++)
        {
            chainChars[i] = _route == ApiRoute.Completion ? Math.Min(_chars, (i + 2) * PromptChunkChars) : prefixChars + _linkChars[i];
        }

        return new ConversationFingerprint
        {
            PrefixKey = prefixKey,
            Chain = chain,
            PrefixChars = prefixChars,
            ChainChars = chainChars,
            PromptChars = _chars,
            ToolCount = _toolCount,
            Model = _model,
            MaxTokens = _maxTokens,
            ClientId = _clientId,
            SystemChars = _systemChars,
            LastUserMessageIsQuotaProbe = _lastIsQuotaProbe,
        };
    }

    public void Dispose()
    {
        _text.Dispose();
        _canonical.Dispose();
        ArrayPool<ulong>.Shared.Return(_links);
        ArrayPool<int>.Shared.Return(_linkChars);
    }

    private readonly ulong PrefixKey()
    {
        var hash = new DigestBuilder(stackalloc byte[DigestBuilder.InlineBytes], PrefixSeed);
        hash.AppendByte((byte)_route.ClientDialect());
        hash.AppendByte(_hasSystem ? (byte)1 : (byte)0);
        hash.AppendUInt64(_hasSystem ? _system : 0);
        hash.AppendByte(_hasTools ? (byte)1 : (byte)0);
        hash.AppendUInt64(_hasTools ? _tools : 0);
        return hash.GetDigest();
    }

    /// <summary>
    /// Claude Code's <c>metadata.user_id</c> is a JSON string holding a <c>device_id</c> that is stable per client
    /// installation (unlike the per-session id), which tells "the same person's next conversation" from "another
    /// person in the same repository" when the gateway has no user keys.
    /// </summary>
    private void ReadMetadata()
    {
        if (_reader.TokenType != JsonTokenType.StartObject)
        {
            _reader.Skip();
            return;
        }

        while (_reader.Read() && _reader.TokenType == JsonTokenType.PropertyName)
        {
            if (_reader.ValueTextEquals("user_id"u8))
            {
                _reader.Read();
                if (_reader.TokenType == JsonTokenType.String)
                {
                    _clientId = DeviceId(_text.Unescape(ref _reader));
                }

                _reader.Skip();
            }
            else
            {
                _reader.Read();
                _reader.Skip();
            }
        }
    }

    private static string? DeviceId(ReadOnlySpan<byte> userId)
    {
        var key = "\"device_id\":\""u8;
        var start = userId.IndexOf(key);
        if (start < 0)
        {
            return null;
        }

        var rest = userId[(start + key.Length)..];
        var end = rest.IndexOf((byte)'"');
        return end is > 0 and <= 128 ? System.Text.Encoding.UTF8.GetString(rest[..end]) : null;
    }

    private void AddLink(ulong digest)
    {
        if (_linkCount == _links.Length)
        {
            var grown = ArrayPool<ulong>.Shared.Rent(_links.Length * 2);
            _links.AsSpan().CopyTo(grown);
            ArrayPool<ulong>.Shared.Return(_links);
            _links = grown;
            var grownChars = ArrayPool<int>.Shared.Rent(_linkChars.Length * 2);
            _linkChars.AsSpan().CopyTo(grownChars);
            ArrayPool<int>.Shared.Return(_linkChars);
            _linkChars = grownChars;
        }

        _linkChars[_linkCount] = _chars - _messagesBaseline;
        _links[_linkCount++] = digest;
    }

    /// <summary>
    /// One link per message. In a ChatCompletions body the leading system/developer messages are the system prompt:
    /// they go into the prefix key and the chain starts after them.
    /// </summary>
    private bool ReadMessages()
    {
        _linkCount = 0;
        _lastIsQuotaProbe = false;
        if (_reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }

        if (_reader.TokenType != JsonTokenType.StartArray)
        {
            return false;
        }

        var leading = _route == ApiRoute.ChatCompletions;
        var system = new DigestBuilder(stackalloc byte[DigestBuilder.InlineBytes], SystemSeed);
        var systemStart = _chars;
        while (_reader.Read() && _reader.TokenType != JsonTokenType.EndArray)
        {
            var digest = MessageDigest(out var role, out var quota);
            if (leading && role is MessageRole.System or MessageRole.Developer)
            {
                system.AppendUInt64(digest);
                _hasSystem = true;
                _systemChars = _chars - systemStart;
                continue;
            }

            leading = false;
            AddLink(digest);
            _lastIsQuotaProbe = role == MessageRole.User && quota;
        }

        if (_route == ApiRoute.ChatCompletions)
        {
            _system = system.GetDigest();
        }

        return true;
    }

    /// <summary>
    /// A message's digest, from the reuse-cache value's memo when the normalizer copied this message from the cache
    /// (earlier turns' messages, every request), else computed (and memoized on that value).
    /// </summary>
    private ulong MessageDigest(out MessageRole role, out bool quota)
    {
        var use = _route == ApiRoute.ChatCompletions ? FingerprintUse.ChatMessage : FingerprintUse.AnthropicMessage;
        var cached = _reader.TokenType == JsonTokenType.StartObject ? _tape.SplicedAt(_reader.TapeIndex) : null;
        if (cached?.Fingerprint is { } memo && memo.Use == use)
        {
            role = memo.Role;
            quota = memo.Quota;
            _chars += memo.Chars;
            _reader.Skip();
            return memo.Digest;
        }

        var before = _chars;
        var digest = ComputeMessageDigest(out role, out quota);
        if (cached is not null)
        {
            cached.Fingerprint = new FingerprintMemo(use, digest, role, quota, _chars - before, 0);
        }

        return digest;
    }

    private ulong ComputeMessageDigest(out MessageRole role, out bool quota)
    {
        role = MessageRole.Other;
        quota = false;
        if (_reader.TokenType != JsonTokenType.StartObject)
        {
            return ValueDigest();
        }

        var chat = _route == ApiRoute.ChatCompletions;
        Span<ulong> fields = stackalloc ulong[6];
        var present = 0;
        fields[1] = EmptyContent;
        while (_reader.Read() && _reader.TokenType == JsonTokenType.PropertyName)
        {
            var slot = _reader.ValueTextEquals("role"u8) ? 0
                : _reader.ValueTextEquals("content"u8) ? 1
                : !chat ? -1
                : _reader.ValueTextEquals("tool_calls"u8) ? 2
                : _reader.ValueTextEquals("tool_call_id"u8) ? 3
                : _reader.ValueTextEquals("name"u8) ? 4
                : _reader.ValueTextEquals("reasoning_content"u8) ? 5
                : -1;
            _reader.Read();
            if (slot < 0 || (slot > 1 && _reader.TokenType == JsonTokenType.Null))
            {
                _reader.Skip();
                continue;
            }

            if (slot == 0)
            {
                role = MessageRoles.Classify(ref _reader);
            }

            // Content absent, null or [] is the same empty content. Role names are not counted as prompt text.
            fields[slot] = slot == 1 ? ContentDigest(0, out quota)
                : slot == 0 && _reader.TokenType == JsonTokenType.String ? NameDigest()
                : FieldDigest();
            present |= slot == 1 ? 0 : 1 << slot;
        }

        var hash = new DigestBuilder(stackalloc byte[DigestBuilder.InlineBytes], MessageSeed);
        hash.AppendInt32(present);
        foreach (var field in fields)
        {
            hash.AppendUInt64(field);
        }

        return hash.GetDigest();
    }

    private static readonly ulong EmptyContent = Digests.Of([], ContentSeed);

    /// <summary>A content value (message content, system, tool_result content): a string is one text block.</summary>
    private ulong ContentDigest(int nesting, out bool quota)
    {
        // A user message held for folding reaches the cache as its content array, so that is what is memoized.
        var cached = nesting == 0 && _reader.TokenType == JsonTokenType.StartArray ? _tape.SplicedAt(_reader.TapeIndex) : null;
        if (cached?.Fingerprint is { Use: FingerprintUse.TopLevelContent } memo)
        {
            quota = memo.Quota;
            _chars += memo.Chars;
            _reader.Skip();
            return memo.Digest;
        }

        var before = _chars;
        var digest = ComputeContentDigest(nesting, out quota);
        if (cached is not null)
        {
            cached.Fingerprint = new FingerprintMemo(FingerprintUse.TopLevelContent, digest, MessageRole.Other, quota, _chars - before, 0);
        }

        return digest;
    }

    private ulong ComputeContentDigest(int nesting, out bool quota)
    {
        quota = false;
        var hash = new DigestBuilder(stackalloc byte[DigestBuilder.InlineBytes], ContentSeed);
        switch (_reader.TokenType)
        {
            case JsonTokenType.String:
                quota = _reader.ValueTextEquals("quota"u8);
                hash.AppendUInt64(TextBlockDigest(StringDigest()));
                break;
            case JsonTokenType.Null:
                break;
            case JsonTokenType.StartArray:
                var blocks = 0;
                var lastQuota = false;
                while (_reader.Read() && _reader.TokenType != JsonTokenType.EndArray)
                {
                    hash.AppendUInt64(BlockDigest(nesting, out lastQuota));
                    blocks++;
                }

                quota = blocks == 1 && lastQuota;
                break;
            default:
                hash.AppendUInt64(ValueDigest());
                break;
        }

        return hash.GetDigest();
    }

    private static ulong TextBlockDigest(ulong text)
    {
        var block = default(BlockAccumulator);
        block.SetType(TextTypeDigest, BlockType.Text);
        block.Add(BlockField.Text, 0, text);
        return block.Digest();
    }

    private ulong BlockDigest(int nesting, out bool quota)
    {
        quota = false;
        if (_reader.TokenType != JsonTokenType.StartObject)
        {
            return ValueDigest();
        }

        var block = default(BlockAccumulator);
        var typeKnown = false;
        var textIsQuota = false;
        while (_reader.Read() && _reader.TokenType == JsonTokenType.PropertyName)
        {
            if (_reader.ValueTextEquals("type"u8))
            {
                _reader.Read();
                var type = _reader.TokenType == JsonTokenType.String ? BlockTypes.Classify(ref _reader) : BlockType.Unknown;
                block.SetType(_reader.TokenType == JsonTokenType.String ? NameDigest() : ValueDigest(), type);
                typeKnown = true;
                continue;
            }

            var field = BlockFields.Classify(ref _reader);
            var name = field == BlockField.Other ? NameDigest() : 0;
            _reader.Read();
            if (field is BlockField.CacheControl or BlockField.Citations
                || (field == BlockField.IsError && _reader.TokenType == JsonTokenType.False)
                || (typeKnown && !block.Includes(field)))
            {
                // Not prompt content (or is_error: false, the same as absent): skip without hashing.
                _reader.Skip();
                continue;
            }

            if (field == BlockField.Text && _reader.TokenType == JsonTokenType.String)
            {
                textIsQuota = _reader.ValueTextEquals("quota"u8);
            }

            var value = field == BlockField.Content && nesting < MaxContentNesting ? ContentDigest(nesting + 1, out _) : FieldDigest();
            block.Add(field, name, value);
        }

        quota = textIsQuota && block.BlockType == BlockType.Text;
        return block.Digest();
    }

    private void ReadTools()
    {
        _toolCount = 0;
        _hasTools = _reader.TokenType != JsonTokenType.Null;

        // Claude Code's ~30 KB tools array is the same in every request of a version: digested once.
        var cached = _reader.TokenType == JsonTokenType.StartArray ? _tape.SplicedAt(_reader.TapeIndex) : null;
        if (cached?.Fingerprint is { Use: FingerprintUse.Tools } memo)
        {
            _toolCount = memo.Count;
            _chars += memo.Chars;
            _tools = memo.Digest;
            _reader.Skip();
            return;
        }

        var before = _chars;
        ComputeTools();
        if (cached is not null)
        {
            cached.Fingerprint = new FingerprintMemo(FingerprintUse.Tools, _tools, MessageRole.Other, false, _chars - before, _toolCount);
        }
    }

    private void ComputeTools()
    {
        var tools = new DigestBuilder(stackalloc byte[DigestBuilder.InlineBytes], ToolsSeed);
        if (_reader.TokenType == JsonTokenType.StartArray)
        {
            while (_reader.Read() && _reader.TokenType != JsonTokenType.EndArray)
            {
                tools.AppendUInt64(ToolDigest());
                _toolCount++;
            }
        }
        else
        {
            tools.AppendUInt64(ValueDigest());
        }

        _tools = tools.GetDigest();
    }

    /// <summary>
    /// A tool is its name, description and input schema: what a chat template renders. Anthropic's
    /// <c>{name, description, input_schema}</c> and OpenAI's <c>{type, function: {name, description, parameters}}</c>
    /// digest alike; cache_control and other flags are not part of it.
    /// </summary>
    private ulong ToolDigest()
    {
        if (_reader.TokenType != JsonTokenType.StartObject)
        {
            return ValueDigest();
        }

        Span<ulong> fields = stackalloc ulong[3];
        var present = 0;
        ReadToolFields(fields, ref present, allowFunction: true);
        var hash = new DigestBuilder(stackalloc byte[DigestBuilder.InlineBytes], ToolSeed);
        hash.AppendInt32(present);
        foreach (var field in fields)
        {
            hash.AppendUInt64(field);
        }

        return hash.GetDigest();
    }

    private void ReadToolFields(scoped Span<ulong> fields, ref int present, bool allowFunction)
    {
        while (_reader.Read() && _reader.TokenType == JsonTokenType.PropertyName)
        {
            var slot = _reader.ValueTextEquals("name"u8) ? 0
                : _reader.ValueTextEquals("description"u8) ? 1
                : _reader.ValueTextEquals("input_schema"u8) || _reader.ValueTextEquals("parameters"u8) ? 2
                : allowFunction && _reader.ValueTextEquals("function"u8) ? 3
                : -1;
            _reader.Read();
            if (slot == 3 && _reader.TokenType == JsonTokenType.StartObject)
            {
                ReadToolFields(fields, ref present, allowFunction: false);
            }
            else if (slot is >= 0 and < 3)
            {
                fields[slot] = FieldDigest();
                present |= 1 << slot;
            }
            else
            {
                _reader.Skip();
            }
        }
    }

    /// <summary>
    /// A raw prompt has no structure to follow, so it is cut into fixed chunks: the prefix key is the first chunk and
    /// each further full chunk adds a link. A prompt that extends another therefore extends its chain.
    /// </summary>
    private void ReadPrompt()
    {
        _linkCount = 0;
        scoped ReadOnlySpan<byte> text;
        switch (_reader.TokenType)
        {
            case JsonTokenType.String:
                text = _text.Unescape(ref _reader);
                break;
            case JsonTokenType.StartArray:
                // Several prompts or token ids: chunk their concatenation (strings as text, tokens as "id ").
                _text.Clear();
                while (_reader.Read() && _reader.TokenType != JsonTokenType.EndArray)
                {
                    if (_reader.TokenType == JsonTokenType.String)
                    {
                        _text.AppendUnescaped(ref _reader);
                    }
                    else if (_reader.TokenType == JsonTokenType.Number)
                    {
                        _text.Append(_reader.ValueSpan);
                        _text.Append((byte)' ');
                    }
                    else
                    {
                        _reader.Skip();
                    }
                }

                text = _text.WrittenSpan;
                break;
            default:
                _promptPrefix = ValueDigest();
                return;
        }

        // The array case concatenated several tokens, so the last token's ASCII flag says nothing here.
        _chars += TextLength.Utf16(text);
        var end = ChunkEnd(text, 0);
        end = end < 0 ? text.Length : end;
        _promptPrefix = Digests.Of(text[..end], PromptSeed);
        for (var next = ChunkEnd(text, end); next > 0; next = ChunkEnd(text, end))
        {
            AddLink(Digests.Of(text[end..next], PromptSeed));
            end = next;
        }
    }

    /// <summary>Where the chunk starting at <paramref name="start"/> ends (never inside a character), or -1 if it would be short.</summary>
    private static int ChunkEnd(ReadOnlySpan<byte> text, int start)
    {
        if (start + PromptChunkChars <= text.Length && System.Text.Ascii.IsValid(text.Slice(start, PromptChunkChars)))
        {
            return start + PromptChunkChars;
        }

        var units = 0;
        var at = start;
        while (at < text.Length)
        {
            var lead = text[at];
            var length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
            units += length == 4 ? 2 : 1;
            at = Math.Min(at + length, text.Length);
            if (units >= PromptChunkChars)
            {
                return at;
            }
        }

        return -1;
    }

    /// <summary>A string as written; anything else as canonical JSON.</summary>
    private ulong FieldDigest() => _reader.TokenType == JsonTokenType.String ? StringDigest() : ValueDigest();

    private ulong StringDigest()
    {
        _chars += _reader.ValueUtf16Length;
        return Digests.Of(_reader.ValueSpan, StringSeed);
    }

    /// <summary>Like <see cref="StringDigest"/> for names and tags, which are not counted as prompt text.</summary>
    private ulong NameDigest() => Digests.Of(_reader.ValueSpan, StringSeed);

    /// <summary>
    /// Canonical JSON of the value at the reader: its compact text with strings as written and every
    /// <c>cache_control</c> member left out, hashed once. The normalized body is compact, and tool schemas (thousands
    /// of small tokens) hold no cache_control, so usually that text is the value's own bytes, hashed in place after one
    /// tight loop over its tape entries; otherwise it is rebuilt token by token.
    /// </summary>
    private ulong ValueDigest()
    {
        var index = _reader.TapeIndex;
        if (_tape.IsCompact && !_tape.ScanSubtree(index, "cache_control"u8, out var units))
        {
            _chars += units;
            var digest = Digests.Of(_tape.RawAt(index), ValueSeed);
            _reader.Skip();
            return digest;
        }

        return RebuiltValueDigest();
    }

    private ulong RebuiltValueDigest()
    {
        _canonical.Clear();
        var depth = _reader.CurrentDepth;
        var afterValue = false;
        AppendToken(ref afterValue);
        if (_reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            while (_reader.Read())
            {
                if (_reader.TokenType == JsonTokenType.PropertyName && _reader.ValueTextEquals("cache_control"u8))
                {
                    _reader.Read();
                    _reader.Skip();
                    continue;
                }

                AppendToken(ref afterValue);
                if (_reader.CurrentDepth == depth)
                {
                    break;
                }
            }
        }

        return Digests.Of(_canonical.WrittenSpan, ValueSeed);
    }

    /// <summary>Appends the current token as compact JSON; a comma goes before anything that follows a finished value.</summary>
    private void AppendToken(ref bool afterValue)
    {
        var type = _reader.TokenType;
        if (afterValue && type is not (JsonTokenType.EndObject or JsonTokenType.EndArray))
        {
            _canonical.Append((byte)',');
        }

        switch (type)
        {
            case JsonTokenType.StartObject or JsonTokenType.StartArray or JsonTokenType.EndObject or JsonTokenType.EndArray:
                _canonical.Append(_reader.ValueSpan);
                break;
            case JsonTokenType.PropertyName or JsonTokenType.String:
                _chars += _reader.ValueUtf16Length;
                _canonical.Append((byte)'"');
                _canonical.Append(_reader.ValueSpan);
                _canonical.Append((byte)'"');
                if (type == JsonTokenType.PropertyName)
                {
                    _canonical.Append((byte)':');
                }

                break;
            default:
                _canonical.Append(_reader.ValueSpan);
                break;
        }

        afterValue = type is not (JsonTokenType.StartObject or JsonTokenType.StartArray or JsonTokenType.PropertyName);
    }
}
