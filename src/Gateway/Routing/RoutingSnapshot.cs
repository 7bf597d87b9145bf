namespace LlamaGateway.Routing;

/// <summary>A consistent copy of the router's state at one moment (dashboard, metrics).</summary>
internal sealed record RoutingSnapshot(int QueueLength, IReadOnlyList<InstanceRoutingSnapshot> Instances);

internal sealed record InstanceRoutingSnapshot(string Name, double PrefillTokensPerSecond, double AverageHoldSeconds, int Queued, IReadOnlyList<SlotSnapshot> Slots);

internal sealed record SlotSnapshot(int Index, bool SideLane, bool Busy, string? User, string? ConversationId, int CachedTokens, double? IdleSeconds, long Requests);
