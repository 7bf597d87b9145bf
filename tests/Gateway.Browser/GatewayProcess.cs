using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace LlamaGateway.Browser;

/// <summary>
/// The gateway as deployed: its built output started with <c>dotnet LlamaGateway.dll</c>, a configuration file
/// given by <c>GATEWAY_CONFIG</c>, listening on a loopback port chosen by the OS (read back from its log).
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _configPath;

    private GatewayProcess(Process process, string configPath, string baseUrl, ConcurrentQueue<string> output)
    {
        _process = process;
        _configPath = configPath;
        BaseUrl = baseUrl;
        Output = output;
    }

    public string BaseUrl { get; }

    /// <summary>Everything the gateway wrote to stdout and stderr.</summary>
    public ConcurrentQueue<string> Output { get; }

    public static async Task<GatewayProcess> StartAsync(object configuration)
    {
        var dll = LocateGateway();
        var configPath = Path.Combine(Path.GetTempPath(), $"gateway-browser-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(configuration));

        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll, "--urls", "http://127.0.0.1:0" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.Environment["GATEWAY_CONFIG"] = configPath;
        start.Environment["DOTNET_NOLOGO"] = "1";

        var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new ConcurrentQueue<string>();
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            output.Enqueue(line);
            const string Marker = "Now listening on: ";
            var at = line.IndexOf(Marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                listening.TrySetResult(line[(at + Marker.Length)..].Trim());
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException("The gateway exited during start-up:\n" + string.Join('\n', output)));

        string baseUrl;
        try
        {
            baseUrl = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch
        {
            Stop(process);
            File.Delete(configPath);
            throw;
        }

        return new GatewayProcess(process, configPath, baseUrl, output);
    }

    public ValueTask DisposeAsync()
    {
        Stop(_process);
        _process.Dispose();
        File.Delete(_configPath);
        return ValueTask.CompletedTask;
    }

    private static void Stop(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
    }

    /// <summary>The gateway built in the same configuration as this test assembly (…/bin/Release/net10.0/).</summary>
    private static string LocateGateway()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent?.Name ?? "Release";
        var path = Path.Combine(RepositoryFiles.Root, "src", "Gateway", "bin", configuration, "net10.0", "LlamaGateway.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"The gateway is not built at {path}; build the solution first.", path);
    }
}
