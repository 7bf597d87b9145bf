namespace LlamaGateway.Hosting;

/// <summary><c>Gateway:Timeouts</c>, in seconds. Each has its own error message so users can tell them apart.</summary>
internal sealed class TimeoutOptions
{
    /// <summary>Connecting to an upstream; past it the instance counts as unreachable (502).</summary>
    public double ConnectSeconds { get; set; } = 5;

    /// <summary>
    /// From sending the request to the first response byte. Prefill of a cold 100K-token prompt on a CPU box takes
    /// minutes, so the default is generous (504 when exceeded).
    /// </summary>
    public double FirstByteSeconds { get; set; } = 600;

    /// <summary>Longest silence between two stream events before the stream is ended with an error event.</summary>
    public double StreamIdleSeconds { get; set; } = 120;
}
