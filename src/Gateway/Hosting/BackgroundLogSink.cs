using System.Threading.Channels;
using Serilog.Core;
using Serilog.Events;

namespace LlamaGateway.Hosting;

/// <summary>
/// Hands log events to another sink (the console) on a background task, so a request never waits for a console
/// write. Why not Serilog.Sinks.Async: its BlockingCollection spins a core each time the queue runs empty, which on
/// the overhead bench cost more CPU than the writes it moved. When the queue is full the event is written inline
/// instead: slower, never lost. A <see cref="BufferedTextSink"/> inside is flushed each time the queue runs empty, so a
/// burst of events costs one write and a quiet gateway's lines still appear at once. Disposing drains the queue, then
/// disposes the inner sink.
/// </summary>
internal sealed class BackgroundLogSink : ILogEventSink, IDisposable
{
    private readonly ILogEventSink _inner;
    private readonly BufferedTextSink? _buffered;
    private readonly Channel<LogEvent> _queue;
    private readonly Task _pump;
    private readonly object _inlineGate = new();

    public BackgroundLogSink(ILogEventSink inner, int capacity)
    {
        _inner = inner;
        _buffered = inner as BufferedTextSink;
        _queue = Channel.CreateBounded<LogEvent>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _pump = Task.Run(PumpAsync);
    }

    public void Emit(LogEvent logEvent)
    {
        if (_queue.Writer.TryWrite(logEvent))
        {
            return;
        }

        // Full (or completed at shutdown): write it here rather than drop it.
        lock (_inlineGate)
        {
            _inner.Emit(logEvent);
            _buffered?.Flush();
        }
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _pump.Wait(TimeSpan.FromSeconds(5));
        (_inner as IDisposable)?.Dispose();
    }

    private async Task PumpAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var logEvent))
            {
                try
                {
                    lock (_inlineGate)
                    {
                        _inner.Emit(logEvent);
                    }
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException)
                {
                    // A closed console must not stop the gateway; there is nowhere left to report it.
                }
            }

            if (_buffered is not null)
            {
                try
                {
                    lock (_inlineGate)
                    {
                        _buffered.Flush();
                    }
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException)
                {
                }
            }
        }
    }
}
