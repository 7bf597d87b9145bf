namespace LlamaGateway.Routing;

/// <summary>How the router treats a request.</summary>
internal enum RequestKind
{
    /// <summary>A turn of a main conversation: pinned to its slot.</summary>
    Conversation,

    /// <summary>Quota probes, title/topic requests, short tool-less requests: kept off conversation slots.</summary>
    Side,

    /// <summary>count_tokens: uses no slot at all, any healthy instance answers it.</summary>
    Slotless,
}
