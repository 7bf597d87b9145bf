using System.Buffers;
using System.Text.Json;
using LlamaGateway.Pipeline;
using LlamaGateway.Translation;

namespace LlamaGateway.Normalization;

/// <summary>
/// A read-only index over one JSON document: every token's kind (container ends included), its depth, its raw bytes
/// and where its subtree ends, recorded by a <see cref="JsonTapeRecorder"/> into pooled arrays. It is built once
/// per request, for the normalized body (recorded by the normalizer as it writes, see <see cref="JsonTapeRecorder"/>,
/// else parsed), and every later reader uses it instead of scanning the bytes again: the
/// shape check and the fingerprint replay it through <see cref="JsonTokenizer(JsonTape)"/> (where a skip
/// is a jump), the translator navigates it through <see cref="JsonTapeValue"/> and copies strings as their raw
/// escaped bytes.
/// Why not JsonDocument: parsing a 100 KB Claude Code body and re-escaping every string on the way out through
/// Utf8JsonWriter cost about ten times the whole normalization pass (bench/results/). llama-server decodes the JSON
/// before it renders the prompt, so escapes kept as the client sent them yield the same tokens.
/// </summary>
internal sealed class JsonTape : IDisposable
{
    // Its own pool for the same reason as BodyBufferPool, bounded the same way: one tape per request in flight, tapes
    // of up to 4 MiB (a 8 MB body) kept, 32 MiB of them at most.
    internal static readonly BoundedArrayPool<Entry> EntryPool = new(maxPooledLength: 256 * 1024, maxRetainedBytes: 32L * 1024 * 1024, maxArraysPerBucket: 256);

    private ReadOnlyMemory<byte> _json;
    private Entry[] _entries;
    private int _count;

    private TapeSplice[]? _splices;
    private readonly int _spliceCount;

    private JsonTape(ReadOnlyMemory<byte> json, Entry[] entries, int count, TapeSplice[]? splices = null, int spliceCount = 0)
    {
        _json = json;
        _entries = entries;
        _count = count;
        _splices = splices;
        _spliceCount = spliceCount;
    }

    /// <summary>The document's root value.</summary>
    public JsonTapeValue Root => new(this, 0);

    /// <summary>The document the tape indexes.</summary>
    public ReadOnlySpan<byte> Json => _json.Span;

    /// <summary>Tokens on the tape, container ends included.</summary>
    public int Count => _count;

    /// <summary>True when no whitespace separates any two tokens, so a raw container copy is already compact.</summary>
    public bool IsCompact { get; private set; } = true;

    /// <summary>
    /// Indexes <paramref name="json"/> (which must stay unchanged while the tape is used).
    /// Throws <see cref="JsonException"/> for invalid JSON, escaped lone surrogates included. UTF-8 is not checked.
    /// </summary>
    public static JsonTape Parse(ReadOnlyMemory<byte> json, int maxDepth)
    {
        using var recorder = new JsonTapeRecorder(json.Length, maxDepth);
        var reader = new JsonTokenizer(json.Span, maxDepth);
        recorder.Record(ref reader, 0);
        var tape = recorder.ToTape(json);
        tape.IsCompact = tape.HasNoWhitespaceAround();
        return tape;
    }

    /// <summary>A tape from entries a <see cref="JsonTapeRecorder"/> recorded while writing <paramref name="json"/>, which it owns from now on.</summary>
    internal static JsonTape FromRecording(ReadOnlyMemory<byte> json, Entry[] entries, int count, TapeSplice[]? splices = null, int spliceCount = 0) =>
        new(json, entries, count, splices, spliceCount);

    /// <summary>
    /// The reuse-cache value whose entries start at <paramref name="index"/>, if the normalizer copied one there: later
    /// stages keep what they derive from it on the value (<see cref="CachedValue.Fingerprint"/>) instead of deriving
    /// it again every turn.
    /// </summary>
    internal CachedValue? SplicedAt(int index)
    {
        var splices = _splices;
        if (splices is null)
        {
            return null;
        }

        int low = 0, high = _spliceCount - 1;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            var at = splices[middle].Index;
            if (at == index)
            {
                return splices[middle].Value;
            }

            if (at < index)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return null;
    }

    /// <summary>
    /// Claude Code bodies have one token per ~57 bytes (long texts); tool-heavy bodies more. Guessing low costs one copy
    /// per doubling, guessing high only unused pooled memory.
    /// </summary>
    internal static Entry[] RentEntries(int jsonBytes) => EntryPool.Rent(Math.Max(64, jsonBytes / 32));

    internal static void ReturnEntries(Entry[] entries) => EntryPool.Return(entries);

    internal static Entry[] GrowEntries(Entry[] entries, int count)
    {
        var bigger = EntryPool.Rent(Math.Max(entries.Length * 2, 256));
        entries.AsSpan(0, count).CopyTo(bigger);
        EntryPool.Return(entries);
        return bigger;
    }

    public void Dispose()
    {
        if (_splices is not null)
        {
            ArrayPool<TapeSplice>.Shared.Return(_splices, clearArray: true);
            _splices = null;
        }

        // Whatever outlives the request with a reference to its tape must not keep the document's array (a large
        // body's is left to the GC once returned) alive with it.
        _json = default;
        var entries = _entries;
        _entries = [];
        if (entries.Length > 0)
        {
            EntryPool.Return(entries);
        }
    }

    internal JsonTokenType TypeAt(int index) => _entries[index].Type;

    /// <summary>The token at <paramref name="index"/>, for the tokenizer's replay.</summary>
    internal ref readonly Entry EntryAt(int index) => ref _entries[index];

    internal bool IsEscapedAt(int index) => _entries[index].Escaped;

    /// <summary>Index just past the subtree that starts at <paramref name="index"/> (past a container's end token).</summary>
    internal int EndAt(int index)
    {
        ref readonly var entry = ref _entries[index];
        return entry.Type is JsonTokenType.StartObject or JsonTokenType.StartArray ? entry.Aux : index + 1;
    }

    /// <summary>
    /// Sums the decoded UTF-16 lengths of every string and name in the subtree at <paramref name="index"/> and says
    /// whether any member there is named <paramref name="name"/> (given as it is written, unescaped names only):
    /// one tight loop over the entries, for a reader that hashes the subtree's bytes whole.
    /// </summary>
    internal bool ScanSubtree(int index, ReadOnlySpan<byte> name, out int utf16Length)
    {
        var end = EndAt(index);
        var json = _json.Span;
        var found = false;
        var units = 0;
        for (var i = index; i < end; i++)
        {
            ref readonly var entry = ref _entries[i];
            if (entry.Type == JsonTokenType.String)
            {
                units += entry.Aux;
            }
            else if (entry.Type == JsonTokenType.PropertyName)
            {
                units += entry.Aux;
                found |= entry.Length == name.Length && json.Slice(entry.Start, entry.Length).SequenceEqual(name);
            }
        }

        utf16Length = units;
        return found;
    }

    /// <summary>A string's or name's content between the quotes (escaped as written), a number's or literal's text, a container's whole text.</summary>
    internal ReadOnlySpan<byte> ValueAt(int index) => _json.Span.Slice(_entries[index].Start, _entries[index].Length);

    /// <summary>The whole value as written: strings with their quotes.</summary>
    internal ReadOnlySpan<byte> RawAt(int index)
    {
        ref readonly var entry = ref _entries[index];
        return entry.Type is JsonTokenType.String or JsonTokenType.PropertyName
            ? _json.Span.Slice(entry.Start - 1, entry.Length + 2)
            : _json.Span.Slice(entry.Start, entry.Length);
    }

    /// <summary>Whether nothing but the one separator byte (',' or ':') compact JSON allows lies between tokens.</summary>
    private bool HasNoWhitespaceAround()
    {
        var json = _json.Span;
        var previousEnd = 0;
        for (var i = 0; i < _count; i++)
        {
            ref readonly var entry = ref _entries[i];
            var text = entry.Type is JsonTokenType.String or JsonTokenType.PropertyName;
            var start = text ? entry.Start - 1 : entry.Start;
            var gap = start - previousEnd;
            if (gap > 0 && (gap > 1 ? HasWhitespace(json[previousEnd..start]) : IsWhitespace(json[previousEnd])))
            {
                return false;
            }

            previousEnd = entry.Type is JsonTokenType.StartObject or JsonTokenType.StartArray ? entry.Start + 1
                : text ? entry.Start + entry.Length + 1
                : entry.Start + entry.Length;
        }

        return previousEnd >= json.Length || !HasWhitespace(json[previousEnd..]);
    }

    private static bool HasWhitespace(ReadOnlySpan<byte> between) => between.IndexOfAny(" \t\r\n"u8) >= 0;

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    // 16 bytes: a 50 KB Claude Code body has ~900 tokens (container ends included).
    internal struct Entry
    {
        public JsonTokenType Type;
        public bool Escaped;
        public ushort Depth;
        public int Start;
        public int Length;

        /// <summary>A container start: the index past its end token. A string or name: its decoded UTF-16 length.</summary>
        public int Aux;
    }
}
