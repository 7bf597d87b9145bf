using System.Diagnostics;
using System.Text;

namespace LlamaGateway.Bench.Infrastructure;

/// <summary>
/// A process this bench started (llama-server, or this binary hosting a proxy): its output lines are collected and
/// offered to a line handler; readiness is a line, not a sleep; disposal ends exactly this process (by its handle).
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Queue<string> _tail = new();
    private readonly object _gate = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Done)> _waits = [];
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(Process process, string name, Action<string>? onLine)
    {
        _process = process;
        Name = name;
        OnLine = onLine;
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    private Action<string>? OnLine { get; }

    public static ChildProcess Start(string name, string file, IEnumerable<string> arguments, Action<string>? onLine = null, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process, name, onLine);
        process.OutputDataReceived += (_, e) => child.Line(e.Data);
        process.ErrorDataReceived += (_, e) => child.Line(e.Data);
        process.Exited += (_, _) => child._exited.TrySetResult();
        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {file}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Starts this bench binary again with a <c>host ...</c> command line (out-of-process proxies).</summary>
    public static ChildProcess StartSelf(string name, IEnumerable<string> arguments, Action<string>? onLine = null, IDictionary<string, string>? environment = null)
    {
        var processPath = Environment.ProcessPath ?? throw new InvalidOperationException("No process path");
        var args = new List<string>();
        if (Path.GetFileNameWithoutExtension(processPath).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            args.Add(typeof(ChildProcess).Assembly.Location);
        }

        args.AddRange(arguments);
        return Start(name, processPath, args, onLine, environment);
    }

    /// <summary>Waits until an output line matches, the process exits, or the timeout passes (then throws with the log tail).</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            foreach (var line in _tail)
            {
                if (match(line))
                {
                    return line;
                }
            }

            _waits.Add((match, done));
        }

        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        var finished = await Task.WhenAny(done.Task, _exited.Task, Task.Delay(Timeout.Infinite, timer.Token).ContinueWith(static _ => { }, TaskScheduler.Default));
        if (finished == done.Task)
        {
            return await done.Task;
        }

        cancellationToken.ThrowIfCancellationRequested();
        var why = _process.HasExited ? $"exited with code {_process.ExitCode}" : $"did not get ready within {timeout.TotalSeconds:0} s";
        throw new InvalidOperationException($"{Name} {why}. Last output:\n{Tail()}");
    }

    public string Tail()
    {
        lock (_gate)
        {
            return string.Join('\n', _tail);
        }
    }

    /// <summary>CPU time (user + system) the process has used so far; zero once it has exited.</summary>
    public TimeSpan CpuTime()
    {
        try
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
        catch (InvalidOperationException)
        {
            return TimeSpan.Zero;
        }
    }

    /// <summary>Peak resident set size (VmHWM) and current RSS of the process, in bytes; -1 when unknown.</summary>
    public (long Peak, long Current) Memory() => ProcessMemory.Read(_process.Id);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
        {
        }

        _process.Dispose();
    }

    private void Line(string? line)
    {
        if (line is null)
        {
            return;
        }

        OnLine?.Invoke(line);
        if (line.StartsWith(Hosting.HostCommand.JitPrefix, StringComparison.Ordinal))
        {
            // A host's twice-a-second JIT progress report: for its handler only, or it would push the log out of the tail.
            return;
        }

        List<TaskCompletionSource<string>>? matched = null;
        lock (_gate)
        {
            _tail.Enqueue(line);
            while (_tail.Count > 200)
            {
                _tail.Dequeue();
            }

            for (var i = _waits.Count - 1; i >= 0; i--)
            {
                if (_waits[i].Match(line))
                {
                    (matched ??= []).Add(_waits[i].Done);
                    _waits.RemoveAt(i);
                }
            }
        }

        if (matched is not null)
        {
            foreach (var done in matched)
            {
                done.TrySetResult(line);
            }
        }
    }
}

internal static class ProcessMemory
{
    /// <summary>Reads VmHWM (peak RSS) and VmRSS from /proc/PID/status, in bytes.</summary>
    public static (long Peak, long Current) Read(int pid)
    {
        var path = $"/proc/{pid}/status";
        long peak = -1, current = -1;
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    peak = ParseKib(line);
                }
                else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    current = ParseKib(line);
                }
            }
        }
        catch (IOException)
        {
        }

        return (peak, current);
    }

    private static long ParseKib(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && long.TryParse(parts[1], out var kib) ? kib * 1024 : -1;
    }
}

internal static class ProcessScheduling
{
    /// <summary>
    /// Threads and context switches (voluntary: the thread waited; involuntary: the scheduler took the core) summed
    /// over the process's live threads, from /proc/PID/task/*/status. A thread that exited takes its counts with it;
    /// under steady load the thread pool keeps its threads, so deltas over a run are close.
    /// </summary>
    public static (int Threads, long Voluntary, long Involuntary) Read(int pid)
    {
        var threads = 0;
        long voluntary = 0, involuntary = 0;
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            voluntary += ParseCount(line);
                        }
                        else if (line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            involuntary += ParseCount(line);
                        }
                    }

                    threads++;
                }
                catch (IOException)
                {
                    // The thread exited while being read.
                }
            }
        }
        catch (IOException)
        {
        }

        return (threads, voluntary, involuntary);
    }

    private static long ParseCount(string line)
    {
        var parts = line.Split(':', StringSplitOptions.TrimEntries);
        return parts.Length == 2 && long.TryParse(parts[1], out var n) ? n : 0;
    }
}
