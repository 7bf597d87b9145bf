using LlamaGateway.Reliability;
using LlamaGateway.Routing;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Reliability;

/// <summary>Checks that a gateway holds nothing after its requests ended: no busy slot, no queue entry, no request.</summary>
internal static class Leaks
{
    public static Task AssertNoneAsync(GatewayHost gateway)
    {
        var router = gateway.Service<SlotRouter>();
        var shutdown = gateway.Service<GatewayShutdown>();

        // The slot is released in the pipeline's finally, just after the client saw the last byte.
        return Poll.UntilAsync(
            () => router.QueueLength == 0 && shutdown.InFlight == 0 && router.Snapshot().Instances.All(i => i.Slots.All(s => !s.Busy)),
            "every slot, queue entry and in-flight request to be released");
    }
}
