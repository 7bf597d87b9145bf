using System.Text;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;

namespace LlamaGateway.Hosting;

/// <summary>
/// Renders log events into a buffered writer that is flushed only when asked (by <see cref="BackgroundLogSink"/> once
/// its queue runs empty). Serilog's console sink flushes every event, one write(2) per request line: under load that
/// was a syscall per request for the gateway and a pipe read per request for whatever collects its output (systemd,
/// a container runtime, the bench). Used when the output is redirected; a terminal keeps the coloured console sink.
/// </summary>
internal sealed class BufferedTextSink : ILogEventSink, IDisposable
{
    private readonly MessageTemplateTextFormatter _formatter;
    private readonly TextWriter _writer;

    public BufferedTextSink(Stream output, string outputTemplate)
    {
        _formatter = new MessageTemplateTextFormatter(outputTemplate);
        _writer = new StreamWriter(output, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 16 * 1024) { AutoFlush = false };
    }

    /// <summary>Callers serialize Emit and Flush (the background sink's lock).</summary>
    public void Emit(LogEvent logEvent) => _formatter.Format(logEvent, _writer);

    public void Flush() => _writer.Flush();

    public void Dispose() => _writer.Dispose();
}
