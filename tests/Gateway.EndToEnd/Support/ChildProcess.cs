using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>
/// A process the tests started: stdout and stderr are kept in memory (line by line, in arrival order) and copied to a
/// log file as they arrive. Disposing kills the whole process tree; so does the test host exiting, so an aborted run
/// leaves no llama-server or CLI behind.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private static readonly ConcurrentDictionary<ChildProcess, byte> Running = new();

    private readonly Process _process;
    private readonly StreamWriter? _log;
    private readonly object _gate = new();
    private readonly List<string> _lines = [];
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    static ChildProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += static (_, _) =>
        {
            foreach (var child in Running.Keys)
            {
                child.Kill();
            }
        };
    }

    private ChildProcess(Process process, string? logPath)
    {
        _process = process;
        if (logPath is not null)
        {
            _log = new StreamWriter(logPath, append: false, Encoding.UTF8) { AutoFlush = true };
        }
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Number of output lines (both streams) received so far; a mark for <see cref="LinesSince"/>.</summary>
    public int LineCount
    {
        get
        {
            lock (_gate)
            {
                return _lines.Count;
            }
        }
    }

    public string StandardOutput
    {
        get
        {
            lock (_gate)
            {
                return _stdout.ToString();
            }
        }
    }

    public string StandardError
    {
        get
        {
            lock (_gate)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>
    /// Starts <paramref name="fileName"/>. The environment is this process's, minus <paramref name="removePrefixes"/>,
    /// plus <paramref name="environment"/>. Standard input is closed at once (a CLI in print mode must not wait on it).
    /// </summary>
    public static ChildProcess Start(string fileName, IEnumerable<string> arguments, string workingDirectory, string? logPath,
        IReadOnlyDictionary<string, string>? environment = null, IEnumerable<string>? removePrefixes = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var prefix in removePrefixes ?? [])
        {
            foreach (var key in info.Environment.Keys.Where(k => k.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)).ToList())
            {
                info.Environment.Remove(key);
            }
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process, logPath);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data, child._stdout, child._stdoutClosed);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data, child._stderr, child._stderrClosed);
        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {fileName}");
        }

        Running[child] = 0;
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Output lines (both streams, arrival order) from index <paramref name="mark"/> on.</summary>
    public IReadOnlyList<string> LinesSince(int mark)
    {
        lock (_gate)
        {
            return mark >= _lines.Count ? [] : _lines.GetRange(mark, _lines.Count - mark);
        }
    }

    /// <summary>The last <paramref name="count"/> output lines, for failure messages.</summary>
    public string Tail(int count = 20)
    {
        lock (_gate)
        {
            return string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - count)));
        }
    }

    /// <summary>Waits for exit and for both output streams to drain; false if <paramref name="timeout"/> passed first.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Kills the process and everything it started.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Exiting while we killed it.
        }
    }

    public void Dispose()
    {
        Kill();
        try
        {
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }

        Running.TryRemove(this, out _);
        _process.Dispose();
        lock (_gate)
        {
            _log?.Dispose();
        }
    }

    private void OnLine(string? line, StringBuilder stream, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
            return;
        }

        lock (_gate)
        {
            _lines.Add(line);
            stream.Append(line).Append('\n');
            try
            {
                _log?.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // A last line after Dispose: keep it in memory only.
            }
        }
    }
}
