namespace LlamaGateway.Hosting;

/// <summary><c>Gateway:Shutdown</c>: what happens to running requests when the gateway is stopped.</summary>
internal sealed class ShutdownOptions
{
    /// <summary>
    /// Seconds in-flight requests and streams get to finish after a stop signal; streams still running then end with
    /// an error event in their client's dialect. Read at start-up (it sets the host's shutdown timeout).
    /// </summary>
    public double DrainSeconds { get; set; } = 30;
}
