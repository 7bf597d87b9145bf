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
