using LlamaGateway.Hosting;
using Serilog.Core;
using Serilog.Events;
using Serilog.Parsing;

namespace LlamaGateway.Tests.Hosting;

public sealed class BackgroundLogSinkTests
{
    [Fact]
    public void Dispose_AfterManyEvents_AllReachTheInnerSinkInOrder()
    {
        var inner = new RecordingSink();
        var sink = new BackgroundLogSink(inner, capacity: 16);

        for (var i = 0; i < 1000; i++)
        {
            sink.Emit(Event(i));
        }

        sink.Dispose();

        Assert.Equal(1000, inner.Events.Count);
        Assert.True(inner.Disposed);
        // A full queue writes inline, so order may interleave; nothing is lost or duplicated.
        Assert.Equal(Enumerable.Range(0, 1000), inner.Events.Order());
    }

    [Fact]
    public void Emit_AfterDispose_WrittenInlineNotLost()
    {
        var inner = new RecordingSink();
        var sink = new BackgroundLogSink(inner, capacity: 16);
        sink.Dispose();

        sink.Emit(Event(7));

        Assert.Equal([7], inner.Events);
    }

    [Fact]
    public async Task Emit_BufferedTextSinkInside_LinesAppearOnceTheQueueRunsEmptyWithoutDispose()
    {
        var output = new LockedMemoryStream();
        var sink = new BackgroundLogSink(new BufferedTextSink(output, "{Level:u3} {N}{NewLine}"), capacity: 16);

        for (var i = 0; i < 3; i++)
        {
            sink.Emit(Event(i));
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (output.Text().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length < 3)
        {
            Assert.True(DateTime.UtcNow < deadline, "buffered lines were never flushed: " + output.Text());
            await Task.Yield();
        }

        Assert.Equal(["INF 0", "INF 1", "INF 2"], output.Text().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        sink.Dispose();
    }

    [Fact]
    public void Dispose_BufferedTextSinkInside_WritesEveryLine()
    {
        var output = new LockedMemoryStream();
        var sink = new BackgroundLogSink(new BufferedTextSink(output, "{N}{NewLine}"), capacity: 4);

        for (var i = 0; i < 500; i++)
        {
            sink.Emit(Event(i));
        }

        sink.Dispose();

        Assert.Equal(Enumerable.Range(0, 500), output.Text().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).Order());
    }

    /// <summary>A memory stream the test can read while the pump writes; disposing keeps the bytes.</summary>
    private sealed class LockedMemoryStream : Stream
    {
        private readonly MemoryStream _bytes = new();

        public string Text()
        {
            lock (_bytes)
            {
                return System.Text.Encoding.UTF8.GetString(_bytes.ToArray());
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_bytes)
            {
                _bytes.Write(buffer, offset, count);
            }
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private static LogEvent Event(int n) =>
        new(DateTimeOffset.UnixEpoch, LogEventLevel.Information, null, new MessageTemplateParser().Parse("n"), [new LogEventProperty("N", new ScalarValue(n))]);

    private sealed class RecordingSink : ILogEventSink, IDisposable
    {
        public List<int> Events { get; } = [];

        public bool Disposed { get; private set; }

        public void Emit(LogEvent logEvent)
        {
            lock (Events)
            {
                Events.Add((int)((ScalarValue)logEvent.Properties["N"]).Value!);
            }
        }

        public void Dispose() => Disposed = true;
    }
}
