using LlamaGateway.Bench.Infrastructure;

namespace LlamaGateway.Bench.Overhead;

internal sealed record OverheadOptions;

internal static class OverheadSuite
{
    public static OverheadOptions Parse(Cli cli, string root, string commandLine) => new();

    public static Task<int> RunAsync(OverheadOptions options, MachineInfo machine, CancellationToken cancellationToken) => Task.FromResult(1);
}
