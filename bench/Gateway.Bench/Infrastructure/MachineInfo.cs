using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace LlamaGateway.Bench.Infrastructure;

/// <summary>What the numbers were measured on, for every results file.</summary>
internal sealed record MachineInfo(string CpuModel, int Cores, string Ram, string Os, string DotnetSdk, string DotnetRuntime, string GitCommit, string LoadAverage)
{
    public static MachineInfo Capture(string repositoryRoot)
    {
        var cpu = "unknown";
        var lscpu = Run("lscpu", "");
        foreach (var line in lscpu.Split('\n'))
        {
            if (line.StartsWith("Model name:", StringComparison.Ordinal))
            {
                cpu = line["Model name:".Length..].Trim();
            }
        }

        var ram = "unknown";
        if (File.Exists("/proc/meminfo"))
        {
            var total = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (total is not null && long.TryParse(total.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out var kib))
            {
                ram = (kib / 1024.0 / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " GiB";
            }
        }

        var sdk = Run("dotnet", "--version").Trim();
        var commit = Run("git", $"-C \"{repositoryRoot}\" log -1 --format=%h%x20%s").Trim();
        var dirty = Run("git", $"-C \"{repositoryRoot}\" status --porcelain --untracked-files=no -- src").Trim().Length > 0 ? " (src has uncommitted changes)" : string.Empty;
        return new MachineInfo(cpu, Environment.ProcessorCount, ram, RuntimeInformation.OSDescription,
            sdk.Length == 0 ? "unknown" : sdk, RuntimeInformation.FrameworkDescription, commit + dirty, LoadAverageNow());
    }

    public static string LoadAverageNow() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    public IEnumerable<string> Lines(string? extra = null)
    {
        yield return $"CPU: {CpuModel}, {Cores} cores (lscpu model name; Environment.ProcessorCount)";
        yield return $"RAM: {Ram}; OS: {Os}";
        yield return $".NET SDK {DotnetSdk} (dotnet --version), runtime {DotnetRuntime}";
        yield return $"Code: {GitCommit}";
        yield return $"Load average (1/5/15 min) when the suite started: {LoadAverage}";
        if (extra is not null)
        {
            yield return extra;
        }
    }

    public static string Run(string file, string arguments)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null)
            {
                return string.Empty;
            }

            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit(10_000);
            return output;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return string.Empty;
        }
    }

    /// <summary>The repository root: the nearest directory above the binary (or the working directory) with Gateway.sln.</summary>
    public static string FindRepositoryRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Gateway.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
