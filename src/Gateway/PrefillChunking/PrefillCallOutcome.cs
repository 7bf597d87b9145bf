namespace LlamaGateway.PrefillChunking;

/// <summary>How one of the chunker's calls to llama-server went.</summary>
internal enum PrefillCallOutcome
{
    Done,

    /// <summary>The server does not serve the endpoint (404, 405, 501): not llama-server, or one without it.</summary>
    Unsupported,

    /// <summary>An error answer, an answer not as expected, or a broken connection.</summary>
    Failed,

    TimedOut,
}
