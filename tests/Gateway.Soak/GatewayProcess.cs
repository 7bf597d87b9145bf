using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace LlamaGateway.Soak;

/// <summary>
/// The real gateway (<c>LlamaGateway.dll</c>, as built beside this project) in its own process, configured by a
/// temporary appsettings.json (GATEWAY_CONFIG), so its memory is its own. Stopped by its process id only.
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;
    private readonly List<string> _output = [];

    private GatewayProcess(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        BaseUrl = $"http://127.0.0.1:{port}";
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string BaseUrl { get; }

    public int Id => _process.Id;

    /// <summary>The gateway's warnings and errors (its log level is Warning in the soak).</summary>
    public IReadOnlyList<string> Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToList();
            }
        }
    }

    public static async Task<GatewayProcess> StartAsync(string configJson)
    {
        var dll = LocateGateway();
        var port = FreePort();
        var directory = Path.Combine(Path.GetTempPath(), "gateway-soak-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var config = Path.Combine(directory, "appsettings.json");
        await File.WriteAllTextAsync(config, configJson);
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        start.Environment["GATEWAY_CONFIG"] = config;
        start.Environment["DOTNET_gcServer"] = "0";
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the gateway process");
        var gateway = new GatewayProcess(process, directory, port);

        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the gateway exited at start-up: {string.Join('\n', gateway.Output)}");
            }

            try
            {
                using var response = await probe.GetAsync(gateway.BaseUrl + "/healthz");
                if (response.IsSuccessStatusCode)
                {
                    return gateway;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                await gateway.DisposeAsync();
                throw new TimeoutException("the gateway did not start listening within 30 s");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Resident set size (VmRSS) and its peak (VmHWM) in MiB, from /proc.</summary>
    public (double RssMiB, double PeakMiB) Memory()
    {
        double rss = 0, peak = 0;
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kib(line) / 1024.0;
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = Kib(line) / 1024.0;
            }
        }

        return (rss, peak);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static double Kib(string line) => double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Count < 2_000)
            {
                _output.Add(line);
            }
        }
    }

    /// <summary>src/Gateway/bin/{Configuration}/net10.0/LlamaGateway.dll of this checkout, built with this project.</summary>
    private static string LocateGateway()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = here.Parent?.Name ?? "Release";
        for (var dir = here; dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.sln")))
            {
                var dll = Path.Combine(dir.FullName, "src", "Gateway", "bin", configuration, "net10.0", "LlamaGateway.dll");
                return File.Exists(dll) ? dll : throw new FileNotFoundException($"build the gateway first ({dll} is missing)");
            }
        }

        throw new DirectoryNotFoundException("Gateway.sln not found above " + AppContext.BaseDirectory);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
