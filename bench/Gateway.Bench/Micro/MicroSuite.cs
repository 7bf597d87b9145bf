using LlamaGateway.Bench.Infrastructure;

namespace LlamaGateway.Bench.Micro;

internal sealed record MicroOptions;

internal static class MicroSuite
{
    public static MicroOptions Parse(Cli cli, string root, string commandLine) => new();

    public static Task<int> RunAsync(MicroOptions options, MachineInfo machine, CancellationToken cancellationToken) => Task.FromResult(1);
}
