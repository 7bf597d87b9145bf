using LlamaGateway.Routing;

namespace LlamaGateway.SlotPersistence;

/// <summary>A saved state chosen for restoring (marked being read), what it holds and how many of the request's tokens it reuses.</summary>
internal sealed record RestoreReservation(SavedStateFile File, SlotContent Content, double ReusableTokens);
