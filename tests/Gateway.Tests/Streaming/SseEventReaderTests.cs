using System.Text;
using LlamaGateway.Streaming;

namespace LlamaGateway.Tests.Streaming;

public sealed class SseEventReaderTests
{
    // Every feature at once: BOM, \n, \r\n and lone \r line ends, comments (alone and inside an event), a
    // comment-only block, multi-line data, a value without the optional space, a field without a colon, id/retry,
    // an event name that later gets replaced, llama-server's legacy error field, and a last event with no blank line.
    private const string Input =
        "\uFEFF: hello\n\n" +
        "event: message_start\ndata: {\"a\":1}\n\n" +
        "data: one\r\ndata:two\r\n: inner comment\r\nid: 7\r\n\r\n" +
        "retry: 10\revent: old\revent: ping\rdata\rdata: x\r\r" +
        ": only a comment\n\n" +
        "error: {\"code\":500}\n\n" +
        "data: [DONE]";

    private static readonly (string Name, string Data, string Raw)[] Expected =
    [
        ("message_start", "{\"a\":1}", "event: message_start\ndata: {\"a\":1}\n\n"),
        ("", "one\ntwo", "data: one\r\ndata:two\r\n: inner comment\r\nid: 7\r\n\r\n"),
        ("ping", "\nx", "retry: 10\revent: old\revent: ping\rdata\rdata: x\r\r"),
        ("error", "{\"code\":500}", "error: {\"code\":500}\n\n"),
        ("", "[DONE]", "data: [DONE]"),
    ];

    [Fact]
    public async Task ReadNextAsync_EverySplitPosition_SameEvents()
    {
        var bytes = Encoding.UTF8.GetBytes(Input);
        for (var split = 0; split <= bytes.Length; split++)
        {
            var events = await ReadAllAsync(ChunkedReadStream.SplitAt(bytes, split));
            Assert.True(Expected.SequenceEqual(events), $"split at {split}: {string.Join(" | ", events)}");
        }
    }

    [Fact]
    public async Task ReadNextAsync_EveryPairOfSplitPositions_SameEvents()
    {
        var bytes = Encoding.UTF8.GetBytes(Input);
        for (var first = 1; first < bytes.Length; first++)
        {
            for (var second = first + 1; second < bytes.Length; second++)
            {
                var events = await ReadAllAsync(ChunkedReadStream.SplitAt(bytes, first, second));
                Assert.Equal(Expected, events);
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(64)]
    public async Task ReadNextAsync_FixedChunkSizes_SameEvents(int chunkSize)
    {
        var events = await ReadAllAsync(ChunkedReadStream.InChunksOf(Encoding.UTF8.GetBytes(Input), chunkSize));

        Assert.Equal(Expected, events);
    }

    [Theory]
    [MemberData(nameof(LlamaServerFixtures.Streams), MemberType = typeof(LlamaServerFixtures))]
    public async Task ReadNextAsync_RecordedStreamInAnyChunkSize_RawEventsReassembleTheStream(string fixture)
    {
        var bytes = LlamaServerFixtures.Read(fixture);
        var whole = await ReadAllAsync(new MemoryStream(bytes));

        Assert.Equal(Encoding.UTF8.GetString(bytes), string.Concat(whole.Select(e => e.Raw)));
        for (var chunkSize = 1; chunkSize <= 33; chunkSize++)
        {
            Assert.Equal(whole, await ReadAllAsync(ChunkedReadStream.InChunksOf(bytes, chunkSize)));
        }
    }

    [Fact]
    public async Task TryReadNextBuffered_MixedWithReadNextAsyncAtEverySplitPosition_SameEvents()
    {
        // The relay asks for buffered events first and waits on the stream only when none is complete; an event the
        // buffer holds only half of must survive that question intact.
        var bytes = Encoding.UTF8.GetBytes(Input);
        for (var first = 1; first < bytes.Length; first += 3)
        {
            for (var second = first + 1; second < bytes.Length; second += 5)
            {
                var events = new List<(string, string, string)>();
                using var reader = new SseEventReader(ChunkedReadStream.SplitAt(bytes, first, second));
                while (reader.TryReadNextBuffered() || await reader.ReadNextAsync())
                {
                    events.Add((Encoding.UTF8.GetString(reader.EventName), Encoding.UTF8.GetString(reader.Data), Encoding.UTF8.GetString(reader.RawEvent)));
                }

                Assert.True(Expected.SequenceEqual(events), $"split at {first}, {second}: {string.Join(" | ", events)}");
            }
        }
    }

    [Fact]
    public async Task TryReadNextBuffered_EventsOfOneRead_ReturnedWithoutReadingMore()
    {
        var bytes = Encoding.UTF8.GetBytes("data: a\n\ndata: b\n\ndata: c\n\ndata: d\n\n");
        var stream = new CountingStream(ChunkedReadStream.SplitAt(bytes, 15));
        using var reader = new SseEventReader(stream);

        Assert.True(await reader.ReadNextAsync());
        Assert.Equal("a", Encoding.UTF8.GetString(reader.Data));
        var reads = stream.Reads;
        Assert.False(reader.TryReadNextBuffered());
        Assert.Equal(reads, stream.Reads);
        Assert.True(await reader.ReadNextAsync());
        Assert.Equal("b", Encoding.UTF8.GetString(reader.Data));
        Assert.True(reader.TryReadNextBuffered());
        Assert.Equal("c", Encoding.UTF8.GetString(reader.Data));
        Assert.True(reader.TryReadNextBuffered());
        Assert.Equal("d", Encoding.UTF8.GetString(reader.Data));
        Assert.False(reader.TryReadNextBuffered());
        Assert.False(await reader.ReadNextAsync());
    }

    private sealed class CountingStream(Stream inner) : Stream
    {
        public int Reads { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            Reads++;
            return inner.Read(buffer, offset, count);
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Reads++;
            return inner.ReadAsync(buffer, cancellationToken);
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task ReadNextAsync_EventLargerThanLimit_ThrowsSseEventTooLarge()
    {
        var bytes = Encoding.UTF8.GetBytes("data: small\n\ndata: " + new string('x', 200) + "\n\n");
        using var reader = new SseEventReader(ChunkedReadStream.InChunksOf(bytes, 13), maxEventBytes: 100);

        Assert.True(await reader.ReadNextAsync());
        var error = await Assert.ThrowsAsync<SseEventTooLargeException>(async () => await reader.ReadNextAsync());
        Assert.Equal(100, error.MaxEventBytes);
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    [InlineData("\r")]
    public async Task ReadNextAsync_EventExactlyAtLimit_IsRead(string lineEnd)
    {
        const int limit = 64;
        var line = "data: " + new string('y', limit - 6 - (2 * lineEnd.Length));
        var bytes = Encoding.UTF8.GetBytes(line + lineEnd + lineEnd + "data: next" + lineEnd + lineEnd);
        using var reader = new SseEventReader(ChunkedReadStream.InChunksOf(bytes, 5), maxEventBytes: limit);

        Assert.True(await reader.ReadNextAsync());
        Assert.Equal(limit, reader.RawEvent.Length);
        Assert.True(await reader.ReadNextAsync());
        Assert.Equal("next", Encoding.UTF8.GetString(reader.Data));
    }

    [Fact]
    public async Task ReadNextAsync_ManySmallEventsInOneRead_LimitAppliesPerEvent()
    {
        var text = string.Concat(Enumerable.Range(0, 500).Select(i => $"data: {i}\n\n"));
        using var reader = new SseEventReader(new MemoryStream(Encoding.UTF8.GetBytes(text)), maxEventBytes: 32);
        var count = 0;
        while (await reader.ReadNextAsync())
        {
            Assert.Equal(count.ToString(System.Globalization.CultureInfo.InvariantCulture), Encoding.UTF8.GetString(reader.Data));
            count++;
        }

        Assert.Equal(500, count);
    }

    [Fact]
    public async Task ReadNextAsync_MultiMegabyteEvent_GrowsAndReadsIt()
    {
        var payload = new string('z', 3 * 1024 * 1024);
        var bytes = Encoding.UTF8.GetBytes("data: " + payload + "\ndata: tail\n\ndata: after\n\n");
        using var reader = new SseEventReader(ChunkedReadStream.InChunksOf(bytes, 4096));

        Assert.True(await reader.ReadNextAsync());
        Assert.Equal(payload + "\ntail", Encoding.UTF8.GetString(reader.Data));
        Assert.True(await reader.ReadNextAsync());
        Assert.Equal("after", Encoding.UTF8.GetString(reader.Data));
        Assert.False(await reader.ReadNextAsync());
    }

    [Fact]
    public async Task ReadNextAsync_EmptyStreamOrOnlyComments_NoEvents()
    {
        Assert.Empty(await ReadAllAsync(new MemoryStream([])));
        Assert.Empty(await ReadAllAsync(new MemoryStream(":\n\n: ping\n\n:"u8.ToArray())));
    }

    [Fact]
    public async Task ReadNextAsync_Cancelled_Throws()
    {
        using var reader = new SseEventReader(ChunkedReadStream.InChunksOf("data: x\n\n"u8.ToArray(), 1));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await reader.ReadNextAsync(new CancellationToken(true)));
    }

    [Fact]
    public async Task Data_BeforeAnyEvent_Throws()
    {
        using var reader = new SseEventReader(new MemoryStream([]));

        Assert.Throws<InvalidOperationException>(() => reader.DataMemory);
        Assert.False(await reader.ReadNextAsync());
        Assert.Throws<InvalidOperationException>(() => reader.RawEventMemory);
    }

    private static async Task<List<(string Name, string Data, string Raw)>> ReadAllAsync(Stream stream)
    {
        var events = new List<(string, string, string)>();
        using var reader = new SseEventReader(stream);
        while (await reader.ReadNextAsync())
        {
            events.Add((Encoding.UTF8.GetString(reader.EventName), Encoding.UTF8.GetString(reader.Data), Encoding.UTF8.GetString(reader.RawEvent)));
        }

        return events;
    }
}
