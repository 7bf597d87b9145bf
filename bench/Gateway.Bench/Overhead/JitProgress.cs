using System.Diagnostics;
using System.Globalization;
using LlamaGateway.Bench.Hosting;

namespace LlamaGateway.Bench.Overhead;

/// <summary>
/// How many methods a process has had JIT-compiled, over time: from the <c>JIT n</c> lines a <c>host</c> process prints
/// (<see cref="HostCommand"/>), or from this process itself. A warm-up is over once none of the processes in the run
/// compiles more than a handful of methods over a few seconds: tier-1 code of the hot paths, as in a long-running server.
/// </summary>
internal sealed class JitProgress
{
    private readonly object _gate = new();
    private readonly Queue<(long Timestamp, long Count)> _samples = new();
    private readonly bool _self;

    private JitProgress(bool self) => _self = self;

    /// <summary>Methods compiled so far (the latest report).</summary>
    public long Latest
    {
        get
        {
            if (_self)
            {
                return System.Runtime.JitInfo.GetCompiledMethodCount();
            }

            lock (_gate)
            {
                return _samples.Count == 0 ? 0 : _samples.Last().Count;
            }
        }
    }

    /// <summary>Tracks this process (the load generator).</summary>
    public static JitProgress ForThisProcess() => new(self: true);

    /// <summary>Tracks a host process: pass <see cref="OnLine"/> as its line handler.</summary>
    public static JitProgress ForHost() => new(self: false);

    public void OnLine(string line)
    {
        if (!line.StartsWith(HostCommand.JitPrefix, StringComparison.Ordinal)
            || !long.TryParse(line.AsSpan(HostCommand.JitPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            return;
        }

        Add(count);
    }

    /// <summary>Samples this process; call it about as often as a host reports.</summary>
    public void Sample()
    {
        if (_self)
        {
            Add(System.Runtime.JitInfo.GetCompiledMethodCount());
        }
    }

    /// <summary>
    /// Whether fewer than <paramref name="methods"/> methods were compiled over the last <paramref name="window"/>
    /// (false until the samples span the whole window).
    /// </summary>
    public bool SettledFor(TimeSpan window, int methods)
    {
        lock (_gate)
        {
            if (_samples.Count == 0)
            {
                return false;
            }

            var newest = _samples.Last();
            var cutoff = newest.Timestamp - (long)(window.TotalSeconds * Stopwatch.Frequency);
            (long Timestamp, long Count)? baseline = null;
            foreach (var sample in _samples)
            {
                if (sample.Timestamp > cutoff)
                {
                    break;
                }

                baseline = sample;
            }

            return baseline is { } start && newest.Count - start.Count < methods;
        }
    }

    private void Add(long count)
    {
        var now = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            _samples.Enqueue((now, count));
            while (_samples.Count > 0 && now - _samples.Peek().Timestamp > 30 * Stopwatch.Frequency)
            {
                _samples.Dequeue();
            }
        }
    }
}
