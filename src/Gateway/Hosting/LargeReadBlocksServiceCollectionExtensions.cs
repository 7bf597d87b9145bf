using Microsoft.AspNetCore.Connections;

namespace LlamaGateway.Hosting;

internal static class LargeReadBlocksServiceCollectionExtensions
{
    /// <summary>
    /// Kestrel receives at most one pool block per recv: 32 KiB blocks instead of 4 KiB read a 100 KB body in ~10
    /// syscalls instead of ~53 (<see cref="LargeBlockMemoryPool"/>). Added after Kestrel's default factory (the web host
    /// registers it first), so this one is resolved.
    /// </summary>
    public static IServiceCollection AddLargeKestrelReadBlocks(this IServiceCollection services) =>
        services.AddSingleton<IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>();
}
