namespace LlamaGateway.Forwarding;

/// <summary>How forwarding one request to one instance ended.</summary>
internal enum ForwardOutcome
{
    /// <summary>The response (or an error already written for it) reached the client.</summary>
    Completed,

    /// <summary>
    /// Nothing reached the upstream (no connection) and nothing was sent to the client, so another instance may be
    /// tried without any risk of running the same generation twice.
    /// </summary>
    NotConnected,

    /// <summary>The client went away.</summary>
    ClientGone,
}
