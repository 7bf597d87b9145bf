using System.Buffers;

namespace LlamaGateway.Streaming;

/// <summary>
/// Reads Server-Sent Events from a stream one event at a time, into pooled buffers. After a successful
/// <see cref="ReadNextAsync"/>, <see cref="EventName"/>, <see cref="Data"/> and <see cref="RawEvent"/> describe the
/// event until the next call. Does not own (or dispose) the stream.
/// </summary>
/// <remarks>
/// Follows the WHATWG parsing rules (\n, \r\n and \r line ends, <c>:</c> comments, one optional space after the
/// colon, data lines joined with \n, a leading BOM skipped, blocks without data not dispatched), with two deliberate
/// differences: a last event that the stream ends without a blank line is still delivered, and a non-standard
/// <c>error:</c> field, which older llama-server builds use for errors in the middle of a stream, is surfaced as an
/// event named <c>error</c> whose data is that field's value.
/// </remarks>
internal sealed class SseEventReader : IDisposable
{
    public const int DefaultMaxEventBytes = 16 * 1024 * 1024;

    private const int InitialBufferSize = 16 * 1024;

    private readonly Stream _stream;
    private readonly int _maxEventBytes;

    private byte[] _buffer;
    private int _end;
    private bool _eof;
    private bool _bomChecked;

    // Start of the event being parsed (or last delivered) and where parsing resumes; the bytes before
    // _eventStart are no longer needed.
    private int _eventStart;
    private int _scan;
    private int _eventEnd;

    // Event fields, as offsets from _eventStart so they survive the buffer being compacted.
    private int _nameOffset;
    private int _nameLength;
    private bool _nameIsError;
    private int _dataLines;
    private int _dataOffset;
    private int _dataLength;
    private byte[]? _joined;
    private int _joinedLength;
    private bool _ready;

    public SseEventReader(Stream stream, int maxEventBytes = DefaultMaxEventBytes)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEventBytes, 16);
        _stream = stream;
        _maxEventBytes = maxEventBytes;
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Min(InitialBufferSize, maxEventBytes + 1));
    }

    /// <summary>The event's name (the last <c>event:</c> field), or empty when it had none.</summary>
    public ReadOnlySpan<byte> EventName => EventNameMemory.Span;

    public ReadOnlyMemory<byte> EventNameMemory
    {
        get
        {
            EnsureReady();
            return _nameIsError ? ErrorName : _buffer.AsMemory(_eventStart + _nameOffset, _nameLength);
        }
    }

    /// <summary>The event's data: its <c>data:</c> fields joined with \n.</summary>
    public ReadOnlySpan<byte> Data => DataMemory.Span;

    public ReadOnlyMemory<byte> DataMemory
    {
        get
        {
            EnsureReady();
            return _dataLines > 1 ? _joined.AsMemory(0, _joinedLength) : _buffer.AsMemory(_eventStart + _dataOffset, _dataLength);
        }
    }

    /// <summary>The bytes of the whole event as received, including its terminating blank line when it had one.</summary>
    public ReadOnlySpan<byte> RawEvent => RawEventMemory.Span;

    public ReadOnlyMemory<byte> RawEventMemory
    {
        get
        {
            EnsureReady();
            return _buffer.AsMemory(_eventStart, _eventEnd - _eventStart);
        }
    }

    private static ReadOnlyMemory<byte> ErrorName { get; } = "error"u8.ToArray();

    /// <summary>Reads the next event.</summary>
    /// <returns>False at the end of the stream.</returns>
    /// <exception cref="SseEventTooLargeException">An event is larger than the configured limit.</exception>
    public ValueTask<bool> ReadNextAsync(CancellationToken cancellationToken = default)
    {
        BeginNext();
        return Parse() switch
        {
            Step.Event => new ValueTask<bool>(true),
            Step.End => new ValueTask<bool>(false),
            _ => ContinueAsync(cancellationToken),
        };
    }

    /// <summary>
    /// Reads the next event only if it is already complete in the buffer (no I/O). False means the next
    /// <see cref="ReadNextAsync"/> would wait for the stream (or report its end): the moment to flush what was relayed.
    /// An event started in the buffer is kept and completed by that call.
    /// </summary>
    public bool TryReadNextBuffered()
    {
        BeginNext();
        return Parse() == Step.Event;
    }

    private enum Step
    {
        Event,
        End,
        NeedData,
    }

    private async ValueTask<bool> ContinueAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await FillAsync(cancellationToken).ConfigureAwait(false);
            switch (Parse())
            {
                case Step.Event:
                    return true;
                case Step.End:
                    return false;
            }
        }
    }

    private void BeginNext()
    {
        ObjectDisposedException.ThrowIf(_buffer.Length == 0, this);
        if (_ready)
        {
            _eventStart = _eventEnd;
            _scan = _eventEnd;
            _ready = false;
            ResetEvent();
        }
    }

    /// <summary>Parses from the buffer; an event cut off by its end stays half-parsed until more data arrives.</summary>
    private Step Parse()
    {
        while (true)
        {
            if (!_bomChecked)
            {
                if (_end - _scan < 3 && !_eof)
                {
                    return Step.NeedData;
                }

                _bomChecked = true;
                if (_buffer.AsSpan(_scan, _end - _scan).StartsWith("\xEF\xBB\xBF"u8))
                {
                    _scan += 3;
                    _eventStart = _scan;
                }
            }

            var unread = _buffer.AsSpan(_scan, _end - _scan);
            var terminator = unread.IndexOfAny((byte)'\n', (byte)'\r');
            int lineEnd;
            int next;
            if (terminator < 0)
            {
                if (!_eof)
                {
                    return Step.NeedData;
                }

                if (unread.IsEmpty)
                {
                    // End of stream: an event still open is delivered even without its blank line.
                    return _dataLines > 0 && Deliver(_end) ? Step.Event : Step.End;
                }

                lineEnd = _end;
                next = _end;
            }
            else
            {
                lineEnd = _scan + terminator;
                if (_buffer[lineEnd] == (byte)'\r')
                {
                    if (lineEnd + 1 == _end && !_eof)
                    {
                        // Cannot tell "\r" from "\r\n" yet.
                        return Step.NeedData;
                    }

                    next = lineEnd + 1 < _end && _buffer[lineEnd + 1] == (byte)'\n' ? lineEnd + 2 : lineEnd + 1;
                }
                else
                {
                    next = lineEnd + 1;
                }
            }

            var lineStart = _scan;
            _scan = next;
            if (lineEnd == lineStart)
            {
                if (_dataLines > 0)
                {
                    Deliver(next);
                    return Step.Event;
                }

                // A block with no data (comments, a lone id or event name) is not an event; drop it.
                _eventStart = next;
                ResetEvent();
                continue;
            }

            ProcessLine(lineStart, lineEnd);
        }
    }

    private bool Deliver(int eventEnd)
    {
        // Checked here as well as before each read: one read may complete an event that is over the limit.
        if (eventEnd - _eventStart > _maxEventBytes)
        {
            throw new SseEventTooLargeException(_maxEventBytes);
        }

        _eventEnd = eventEnd;
        _ready = true;
        return true;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }

        if (_joined is not null)
        {
            ArrayPool<byte>.Shared.Return(_joined);
            _joined = null;
        }
    }

    private void ProcessLine(int lineStart, int lineEnd)
    {
        var line = _buffer.AsSpan(lineStart, lineEnd - lineStart);
        if (line[0] == (byte)':')
        {
            return;
        }

        var colon = line.IndexOf((byte)':');
        var field = colon < 0 ? line : line[..colon];
        var valueStart = colon < 0 ? lineEnd : lineStart + colon + 1;
        if (valueStart < lineEnd && _buffer[valueStart] == (byte)' ')
        {
            valueStart++;
        }

        var valueLength = lineEnd - valueStart;
        if (field.SequenceEqual("data"u8))
        {
            AppendData(valueStart, valueLength);
        }
        else if (field.SequenceEqual("event"u8))
        {
            _nameIsError = false;
            _nameOffset = valueStart - _eventStart;
            _nameLength = valueLength;
        }
        else if (field.SequenceEqual("error"u8))
        {
            _nameIsError = true;
            AppendData(valueStart, valueLength);
        }

        // id, retry and unknown fields do not matter to a proxy that relays or translates events.
    }

    private void AppendData(int valueStart, int valueLength)
    {
        _dataLines++;
        if (_dataLines == 1)
        {
            _dataOffset = valueStart - _eventStart;
            _dataLength = valueLength;
            return;
        }

        if (_dataLines == 2)
        {
            _joinedLength = 0;
            AppendJoined(_buffer.AsSpan(_eventStart + _dataOffset, _dataLength));
        }

        AppendJoined("\n"u8);
        AppendJoined(_buffer.AsSpan(valueStart, valueLength));
    }

    private void AppendJoined(ReadOnlySpan<byte> bytes)
    {
        var needed = _joinedLength + bytes.Length;
        if (_joined is null || _joined.Length < needed)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, (_joined?.Length ?? 1024) * 2));
            if (_joined is not null)
            {
                _joined.AsSpan(0, _joinedLength).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_joined);
            }

            _joined = bigger;
        }

        bytes.CopyTo(_joined.AsSpan(_joinedLength));
        _joinedLength = needed;
    }

    private async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        if (_end - _eventStart > _maxEventBytes)
        {
            throw new SseEventTooLargeException(_maxEventBytes);
        }

        if (_end == _buffer.Length)
        {
            MakeRoom();
        }

        var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            _eof = true;
            return;
        }

        _end += read;
    }

    /// <summary>Drops bytes before the current event, or grows the buffer when the event fills it.</summary>
    private void MakeRoom()
    {
        var kept = _end - _eventStart;
        if (_eventStart > 0)
        {
            _buffer.AsSpan(_eventStart, kept).CopyTo(_buffer);
            _scan -= _eventStart;
            _eventStart = 0;
            _end = kept;
            if (_end < _buffer.Length)
            {
                return;
            }
        }

        // An event of exactly the limit fits, with one byte to spare for telling "\r" from "\r\n".
        var cap = _maxEventBytes + 1;
        var size = (int)Math.Min((long)_buffer.Length * 2, cap);
        if (size <= _buffer.Length)
        {
            throw new SseEventTooLargeException(_maxEventBytes);
        }

        var bigger = ArrayPool<byte>.Shared.Rent(size);
        _buffer.AsSpan(0, _end).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    private void ResetEvent()
    {
        _nameOffset = 0;
        _nameLength = 0;
        _nameIsError = false;
        _dataLines = 0;
        _dataOffset = 0;
        _dataLength = 0;
        _joinedLength = 0;
        _eventEnd = _eventStart;
    }

    private void EnsureReady()
    {
        if (!_ready)
        {
            throw new InvalidOperationException("no event has been read, or the stream has ended");
        }
    }
}
