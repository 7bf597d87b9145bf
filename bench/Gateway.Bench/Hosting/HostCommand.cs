using LlamaGateway.Bench.Infrastructure;

namespace LlamaGateway.Bench.Hosting;

internal static class HostCommand
{
    public static Task<int> RunAsync(Cli cli, CancellationToken cancellationToken) => Task.FromResult(1);
}
