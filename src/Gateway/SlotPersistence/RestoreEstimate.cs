namespace LlamaGateway.SlotPersistence;

/// <summary>What restoring a saved state would give a request: tokens reused, and the instance's measured restore speed (0 until measured).</summary>
internal readonly record struct RestoreEstimate(double Tokens, double TokensPerSecond);
