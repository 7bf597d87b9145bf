using System.Diagnostics;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>Waits for a condition by polling it until a deadline; the only way these tests wait for anything.</summary>
internal static class Poll
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    /// <summary>Polls <paramref name="probe"/> until it returns true; throws with <paramref name="what"/> and the last state on timeout.</summary>
    public static async Task UntilAsync(string what, TimeSpan timeout, Func<Task<(bool Done, string State)>> probe, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var state = "(not probed yet)";
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            (var done, state) = await probe();
            if (done)
            {
                return;
            }

            if (clock.Elapsed >= timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting for {what}; last state: {state}");
            }

            await Task.Delay(Interval, cancellationToken);
        }
    }
}
