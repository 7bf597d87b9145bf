using BenchmarkDotNet.Attributes;
using LlamaGateway.Bench.Overhead;
using LlamaGateway.Conversations;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Routing;
using LlamaGateway.Translation;
using LlamaGateway.Upstreams;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Bench.Micro;

/// <summary>
/// The gateway's per-request CPU work before forwarding, on a real ~100 KB Claude Code body, as the request path does
/// it: normalize while recording the normalized body's token tape, fingerprint (replaying the tape), find the conversation,
/// choose a slot; and, for reference, the shape check and translating the request for llama-server (both from the tape).
/// Public because BenchmarkDotNet needs it so; the gateway types stay in private fields.
/// </summary>
[MemoryDiagnoser]
public class RequestPathBenchmarks
{
    private byte[] _body = [];
    private byte[] _normalized = [];
    private JsonTape _tape = null!;
    private byte[][] _chunks = [];
    private PooledBuffer _output = null!;
    private PooledBuffer _translated = null!;
    private ConversationFingerprint? _fingerprint;
    private ConversationTable _table = null!;
    private List<InstanceSlots> _pools = null!;
    private RoutingOptions _routing = null!;
    private SlotWaiter _waiter = null!;
    private long _now;
    private UnchangedValueCache _reuse = null!;
    private int[] _numberOffsets = [];
    private long _number;
    private byte[] _teamBody = [];
    private int[] _teamOffsets = [];
    private UnchangedValueCache _team = null!;

    /// <summary>Conversations in the reuse cache of the busy-gateway case (the overhead suite's clients at c=64).</summary>
    private const int TeamConversations = 64;

    /// <summary>Body size in KB (the targets are stated for 100 KB).</summary>
    [Params(100)]
    public int BodyKb { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _body = OverheadBodies.Build(BodyKb * 1024, 0);
        _output = new PooledBuffer(_body.Length + 4096);
        _translated = new PooledBuffer(_body.Length + 4096);
        RequestNormalizer.Normalize(_body, ApiRoute.Messages, NormalizationSettings.Default, _output);
        _normalized = _output.WrittenSpan.ToArray();
        _tape = JsonTape.Parse(_normalized, RequestNormalizer.MaxDepth);
        _fingerprint = ConversationFingerprinter.Compute(_tape, ApiRoute.Messages);
        _chunks = [.. ZeroUpstream.OpenAiChunks.Select(System.Text.Encoding.UTF8.GetBytes)];
        _numberOffsets = OverheadBodies.NumberOffsets(_body);
        _reuse = new UnchangedValueCache(64L * 1024 * 1024);
        NormalizeFollowUp().Dispose();

        // Every client's first message opens with the same reminder text for kilobytes: one bucket of the cache holds
        // them all side by side, and a lookup searches among them. Client 0 comes last, so its body is the one measured.
        _team = new UnchangedValueCache(256L * 1024 * 1024);
        for (var client = TeamConversations - 1; client >= 0; client--)
        {
            _teamBody = OverheadBodies.Build(BodyKb * 1024, client);
            _teamOffsets = OverheadBodies.NumberOffsets(_teamBody);
            for (var turn = 0; turn < 3; turn++)
            {
                NormalizeTeamFollowUp().Dispose();
            }
        }

        _routing = new RoutingOptions();
        var monitor = new FixedOptionsMonitor<RoutingOptions>(_routing);
        _table = new ConversationTable(monitor, TimeProvider.System);

        // A busy pool: 4 slots (one side lane) holding other conversations, and a table with 1,000 of them.
        for (var i = 0; i < 1000; i++)
        {
            _table.Resolve(SyntheticFingerprint(i), null, null, $"session-{i}");
        }

        var instance = new UpstreamInstance(new UpstreamOptions { Name = "bench", BaseUrl = "http://127.0.0.1:1", Slots = 4 });
        var pool = new InstanceSlots(instance);
        pool.EnsureShape(null);
        _now = TimeProvider.System.GetTimestamp();
        for (var s = 0; s < pool.Slots.Length; s++)
        {
            pool.Slots[s].Remember(SyntheticFingerprint(s), 12_000, $"other-{s}", $"user-{s}", _now);
        }

        _pools = [pool];
        var request = new GatewayRequestContext(ApiRoute.Messages, _now) { Fingerprint = _fingerprint };
        var conversation = _fingerprint is null ? null : _table.Resolve(_fingerprint, null, null, "bench-session");
        _waiter = new SlotWaiter(request, RequestKind.Conversation, conversation, "bench-session", _now);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _output.Dispose();
        _translated.Dispose();
        _tape.Dispose();
        _table.Dispose();
    }

    [Benchmark(Description = "Normalize")]
    public bool Normalize()
    {
        _output.Clear();
        return RequestNormalizer.Normalize(_body, ApiRoute.Messages, NormalizationSettings.Default, _output).Success;
    }

    [Benchmark(Description = "Normalize, recording the tape (as the request path does)")]
    public int NormalizeRecording()
    {
        using var tape = NormalizeToTape();
        return tape.Count;
    }

    [Benchmark(Description = "Normalize, recording the tape, reuse cache warm (follow-up turn: the newest messages new)")]
    public int NormalizeRecordingReused()
    {
        using var tape = NormalizeFollowUp();
        return tape.Count;
    }

    [Benchmark(Description = "Normalize, recording the tape, reuse cache warm with 64 conversations (a busy gateway's follow-up turn)")]
    public int NormalizeRecordingReusedTeam()
    {
        using var tape = NormalizeTeamFollowUp();
        return tape.Count;
    }

    [Benchmark(Description = "Token tape parsed from the normalized body (the fallback, reference)")]
    public int Tape()
    {
        using var tape = JsonTape.Parse(_normalized, RequestNormalizer.MaxDepth);
        return tape.Count;
    }

    [Benchmark(Description = "Fingerprint (tape replay)")]
    public object? Fingerprint() => ConversationFingerprinter.Compute(_tape, ApiRoute.Messages);

    [Benchmark(Description = "Resolve conversation")]
    public object? Resolve() => _fingerprint is null ? null : _table.Resolve(_fingerprint, null, null, "bench-session");

    [Benchmark(Description = "Choose slot")]
    public int Choose() => Index(SlotChooser.Choose(_waiter, _pools, _routing, _now, TimeProvider.System.TimestampFrequency));

    /// <summary>Everything the gateway decides per request before it translates and forwards.</summary>
    [Benchmark(Description = "Normalize + tape + fingerprint + resolve + choose")]
    public int WholeDecision()
    {
        using var tape = NormalizeToTape();
        return Decide(tape);
    }

    [Benchmark(Description = "Normalize + tape + fingerprint + resolve + choose, reuse cache warm (follow-up turn)")]
    public int WholeDecisionReused()
    {
        using var tape = NormalizeFollowUp();
        return Decide(tape);
    }

    /// <summary>As the gateway does it: a new request number in the newest messages, the rest as the cache holds it.</summary>
    private JsonTape NormalizeFollowUp() => NormalizeFollowUp(_body, _numberOffsets, _reuse);

    private JsonTape NormalizeTeamFollowUp() => NormalizeFollowUp(_teamBody, _teamOffsets, _team);

    private JsonTape NormalizeFollowUp(byte[] body, int[] numberOffsets, UnchangedValueCache cache)
    {
        OverheadBodies.Stamp(body, numberOffsets, ++_number);
        _output.Clear();
        using var recorder = new JsonTapeRecorder(body.Length);
        RequestNormalizer.Normalize(body, ApiRoute.Messages, NormalizationSettings.Default with { ReuseCache = cache }, _output, recorder);
        return recorder.IsValid ? recorder.ToTape(_output.WrittenMemory) : JsonTape.Parse(_output.WrittenMemory, RequestNormalizer.MaxDepth);
    }

    private JsonTape NormalizeToTape()
    {
        _output.Clear();
        using var recorder = new JsonTapeRecorder(_body.Length);
        RequestNormalizer.Normalize(_body, ApiRoute.Messages, NormalizationSettings.Default, _output, recorder);
        return recorder.IsValid ? recorder.ToTape(_output.WrittenMemory) : JsonTape.Parse(_output.WrittenMemory, RequestNormalizer.MaxDepth);
    }

    private int Decide(JsonTape tape)
    {
        var fingerprint = ConversationFingerprinter.Compute(tape, ApiRoute.Messages);
        var kind = RequestClassifier.Classify(ApiRoute.Messages, fingerprint);
        var conversation = fingerprint is not null && kind == RequestKind.Conversation ? _table.Resolve(fingerprint, null, null, "bench-session") : null;
        var request = new GatewayRequestContext(ApiRoute.Messages, _now) { Fingerprint = fingerprint };
        var waiter = new SlotWaiter(request, kind, conversation, "bench-session", _now);
        return Index(SlotChooser.Choose(waiter, _pools, _routing, _now, TimeProvider.System.TimestampFrequency));
    }

    /// <summary>Stage 5b for one reply: the zero-work upstream's 9 chat-completion chunks into Anthropic events.</summary>
    [Benchmark(Description = "Translate reply stream, 9 chunks (reference)")]
    public int TranslateStream()
    {
        _output.Clear();
        using var translator = new LlamaGateway.Streaming.OpenAiToAnthropicStream("claude-opus-5-5");
        foreach (var chunk in _chunks)
        {
            translator.OnChunk(chunk, _output);
        }

        translator.OnDone(_output);
        return _output.WrittenCount;
    }

    [Benchmark(Description = "Shape check (tape replay, reference)")]
    public bool ShapeCheck() => LlamaGateway.Reliability.RequestShapeCheck.Check(_tape, ApiRoute.Messages) is null;

    /// <summary>All CPU work on the request before YARP sends it, in the request path's order: decision, shape check and translation.</summary>
    [Benchmark(Description = "Whole request path: decision + shape check + translate (reference)")]
    public int WholeRequestPath()
    {
        using var tape = NormalizeToTape();
        LlamaGateway.Reliability.RequestShapeCheck.Check(tape, ApiRoute.Messages);
        var choice = Decide(tape);
        _translated.Clear();
        AnthropicToOpenAiRequest.Translate(tape, new ChatRequestSettings(choice >= 0 ? choice : null, null), _translated);
        return _translated.WrittenCount;
    }

    [Benchmark(Description = "Whole request path, reuse cache warm (follow-up turn; reference)")]
    public int WholeRequestPathReused()
    {
        using var tape = NormalizeFollowUp();
        LlamaGateway.Reliability.RequestShapeCheck.Check(tape, ApiRoute.Messages);
        var choice = Decide(tape);
        _translated.Clear();
        AnthropicToOpenAiRequest.Translate(tape, new ChatRequestSettings(choice >= 0 ? choice : null, null), _translated);
        return _translated.WrittenCount;
    }

    [Benchmark(Description = "Translate request to chat completions (from the tape, reference)")]
    public bool Translate()
    {
        _output.Clear();
        return AnthropicToOpenAiRequest.Translate(_tape, new ChatRequestSettings(1, null), _output).Success;
    }

    // The choice as a number, so nothing is boxed: the slot taken, -2 for "wait for a slot", -1 for "wait for any".
    private static int Index(SlotChoice choice) => choice.Slot?.Index ?? (choice.WaitFor is null ? -1 : -2);

    internal static ConversationFingerprint SyntheticFingerprint(int seed, int links = 24)
    {
        var chain = new ulong[links];
        var chars = new int[links];
        var hash = 0x9E3779B97F4A7C15UL * (ulong)(seed + 1);
        for (var i = 0; i < links; i++)
        {
            hash = (hash ^ (hash >> 29)) * 0xBF58476D1CE4E5B9UL + (ulong)i;
            chain[i] = hash;
            chars[i] = 40_000 + (i * 2_000);
        }

        return new ConversationFingerprint
        {
            PrefixKey = 0xC0FFEEUL + (ulong)(seed % 7),
            Chain = chain,
            ChainChars = chars,
            PromptChars = chars[^1],
            PrefixChars = 40_000,
            ToolCount = 12,
            Model = "claude-opus-5-5",
            MaxTokens = 128000,
        };
    }
}

/// <summary>An <see cref="IOptionsMonitor{T}"/> that never changes.</summary>
internal sealed class FixedOptionsMonitor<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}
