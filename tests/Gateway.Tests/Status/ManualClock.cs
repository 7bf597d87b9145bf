using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Status;

internal static class ManualClock
{
    /// <summary>
    /// Advances the manual clock by <paramref name="step"/> once a timer is armed, repeating until
    /// <paramref name="done"/> holds: a background loop arms its next timer only after handling the previous tick.
    /// </summary>
    public static async Task AdvanceUntilAsync(ManualTimeProvider time, TimeSpan step, Func<bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition never held");
            if (time.ArmedTimers > 0)
            {
                time.Advance(step);
            }

            await Task.Delay(5);
        }
    }
}
