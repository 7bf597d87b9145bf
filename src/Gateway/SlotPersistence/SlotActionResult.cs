namespace LlamaGateway.SlotPersistence;

/// <summary>
/// The answer to one slot save or restore: tokens (<c>n_saved</c> / <c>n_restored</c>), bytes (<c>n_written</c> /
/// <c>n_read</c>) and llama-server's own time for it; <see cref="Detail"/> says what went wrong otherwise.
/// </summary>
internal readonly record struct SlotActionResult(SlotActionOutcome Outcome, int Tokens, long Bytes, double Milliseconds, string Detail)
{
    public static SlotActionResult Problem(SlotActionOutcome outcome, string detail) => new(outcome, 0, 0, 0, detail);
}
