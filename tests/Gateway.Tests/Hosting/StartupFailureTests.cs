using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LlamaGateway.Tests.Hosting;

/// <summary>
/// The built gateway (LlamaGateway.dll beside the tests) started as its own process with a bad configuration: it prints
/// a message the user can act on, exits 1 and writes no stack trace. Each child is stopped by its own process id.
/// </summary>
public sealed class StartupFailureTests
{
    private const string Upstream = """{"Name":"one","BaseUrl":"http://127.0.0.1:9","Slots":1}""";

    private static readonly TimeSpan ExitBound = TimeSpan.FromSeconds(60);

    public static TheoryData<string, string, string, string[]> InvalidConfigurations() => new()
    {
        { "invalid URL", $$$"""{"Gateway":{"Upstreams":[{"Name":"one","BaseUrl":"ftp://nowhere"}]}}""", "http://127.0.0.1:0", ["Invalid configuration:", "Gateway:Upstreams:0:BaseUrl must be an absolute http:// or https:// URL"] },
        { "every failure listed", """{"Gateway":{"Upstreams":[],"MaxRequestBodyBytes":10,"Shutdown":{"DrainSeconds":-1}}}""", "http://127.0.0.1:0", ["Gateway:Upstreams is empty", "Gateway:MaxRequestBodyBytes must be at least 1024", "Gateway:Shutdown:DrainSeconds"] },
        { "short key", $$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}],"Users":[{"Name":"alice","ApiKey":"short"}]}}""", "http://127.0.0.1:0", ["Gateway:Users:0:ApiKey is shorter than 8 characters"] },
        { "wrong type", $$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}],"MaxRequestBodyBytes":"big"}}""", "http://127.0.0.1:0", ["Failed to convert configuration value 'big' at 'Gateway:MaxRequestBodyBytes'"] },
        { "routing option", $$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}],"Routing":{"MaxQueueSeconds":-1} }}""", "http://127.0.0.1:0", ["Gateway:Routing:MaxQueueSeconds"] },
        { "log level", $$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}]},"Serilog":{"MinimumLevel":"Loud"}}""", "http://127.0.0.1:0", ["Loud is not a valid Serilog level"] },
        { "colliding slot files", $$$"""{"Gateway":{"Upstreams":[{"Name":"gpu.1","BaseUrl":"http://127.0.0.1:9","SlotSave":{"Enabled":true}},{"Name":"gpu_1","BaseUrl":"http://127.0.0.1:8","SlotSave":{"Enabled":true}}]}}""", "http://127.0.0.1:0", ["\"gpu_1\" and Gateway:Upstreams:0:Name \"gpu.1\"", "llama-gateway-gpu_1-<n>.bin"] },
        { "unparsable file", """{"Gateway": [""", "http://127.0.0.1:0", ["could not be read: Could not parse the JSON file.", "LineNumber"] },
        { "listen address not a URL", $$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}]}}""", "notaurl", ["The listen address \"notaurl\" (--urls) is not a URL"] },
        { "port out of range", $$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}]}}""", "http://127.0.0.1:99999", ["has port 99999"] },
        { "port not a number", $$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}]}}""", "http://127.0.0.1:80a", ["has no valid host and port"] },
        { "any port on localhost", $$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}]}}""", "http://localhost:0", ["use http://127.0.0.1:0"] },
        { "https without certificate", $$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}]}}""", "https://127.0.0.1:0", ["Unable to configure HTTPS endpoint"] },
    };

    [Theory]
    [MemberData(nameof(InvalidConfigurations))]
    public async Task Start_InvalidConfiguration_PrintsTheMessageAndExits1WithoutStackTrace(string problem, string json, string urls, string[] expected)
    {
        using var directory = new TemporaryDirectory();
        var config = directory.Write("appsettings.json", Encoding.UTF8.GetBytes(json));

        var (exitCode, stdout, stderr) = await RunAsync(config, urls);

        AssertFailedCleanly(problem, exitCode, stdout, stderr, expected);
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("directory")]
    [InlineData("unreadable")]
    [InlineData("invalid UTF-8")]
    public async Task Start_UnreadableConfigurationFile_PrintsTheMessageAndExits1WithoutStackTrace(string problem)
    {
        using var directory = new TemporaryDirectory();
        var config = Path.Combine(directory.Path, "appsettings.json");
        string[] expected;
        switch (problem)
        {
            case "missing":
                expected = ["could not be read", "was not found"];
                break;
            case "directory":
                Directory.CreateDirectory(config);
                expected = ["could not be read", "is a directory, not a JSON file"];
                break;
            case "unreadable":
                directory.Write("appsettings.json", Encoding.UTF8.GetBytes($$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}]}}"""));
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(config, UnixFileMode.None);
                }

                if (CanRead(config))
                {
                    // Running as root, where chmod does not stop reads: a link to /proc/self/mem, which no process can read from its start.
                    File.Delete(config);
                    File.CreateSymbolicLink(config, "/proc/self/mem");
                }

                Assert.False(CanRead(config));
                expected = ["could not be read"];
                break;
            default:
                var bytes = Encoding.UTF8.GetBytes($$$"""{"Gateway":{"Upstreams":[{"Name":"one?","BaseUrl":"http://127.0.0.1:9"}]}}""");
                bytes[Array.IndexOf(bytes, (byte)'?')] = 0xC3; // a lead byte with no continuation
                directory.Write("appsettings.json", bytes);
                expected = ["could not be read", "not valid UTF-8 text (line 1, byte"];
                break;
        }

        var (exitCode, stdout, stderr) = await RunAsync(config, "http://127.0.0.1:0");

        AssertFailedCleanly(problem, exitCode, stdout, stderr, [config, .. expected]);
    }

    [Fact]
    public async Task Start_PortInUse_PrintsTheMessageAndExits1WithoutStackTrace()
    {
        using var directory = new TemporaryDirectory();
        var config = directory.Write("appsettings.json", Encoding.UTF8.GetBytes($$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}]}}"""));
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var (exitCode, stdout, stderr) = await RunAsync(config, $"http://127.0.0.1:{port}");

        AssertFailedCleanly("port in use", exitCode, stdout, stderr, [$"Failed to bind to address http://127.0.0.1:{port}: address already in use", "choose another address with --urls"]);
    }

    [Fact]
    public async Task Start_ValidConfiguration_ListensAndServes()
    {
        // The control: the same harness with a good configuration gets a running gateway.
        using var directory = new TemporaryDirectory();
        var config = directory.Write("appsettings.json", Encoding.UTF8.GetBytes($$$"""{"Gateway":{"Upstreams":[{{{Upstream}}}]}}"""));
        using var process = Start(config, "http://127.0.0.1:0");
        try
        {
            var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data?.IndexOf("Now listening on: ", StringComparison.Ordinal) is >= 0 and var at)
                {
                    listening.TrySetResult(e.Data[(at + "Now listening on: ".Length)..].Trim());
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var address = await listening.Task.WaitAsync(ExitBound);

            using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(10) };
            using var response = await client.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        finally
        {
            Stop(process);
        }
    }

    private static void AssertFailedCleanly(string problem, int exitCode, string stdout, string stderr, string[] expected)
    {
        var output = $"{problem}: exit code {exitCode}\nstdout:\n{stdout}\nstderr:\n{stderr}";
        Assert.True(exitCode == 1, output);
        Assert.StartsWith("llama-gateway could not start: ", stderr, StringComparison.Ordinal);
        foreach (var text in expected)
        {
            Assert.True(stderr.Contains(text, StringComparison.Ordinal), $"expected \"{text}\" in\n{output}");
        }

        Assert.False(stdout.Contains("   at ", StringComparison.Ordinal) || stderr.Contains("   at ", StringComparison.Ordinal), $"stack trace printed\n{output}");
        Assert.DoesNotContain("Unhandled exception", stderr, StringComparison.Ordinal);
    }

    private static Process Start(string config, string urls)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(config)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "LlamaGateway.dll"));
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(urls);
        start.Environment["GATEWAY_CONFIG"] = config;
        start.Environment["DOTNET_gcServer"] = "0";
        start.Environment.Remove("ASPNETCORE_URLS");
        return Process.Start(start) ?? throw new InvalidOperationException("could not start the gateway process");
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string config, string urls)
    {
        using var process = Start(config, urls);
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(ExitBound);
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, await stdout, await stderr);
        }
        finally
        {
            Stop(process);
        }
    }

    private static void Stop(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }

    private static bool CanRead(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            _ = stream.ReadByte();
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private sealed class TemporaryDirectory : IDisposable
    {
        public TemporaryDirectory()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "gateway-startup-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public string Write(string name, byte[] content)
        {
            var path = System.IO.Path.Combine(Path, name);
            File.WriteAllBytes(path, content);
            return path;
        }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
