namespace LlamaGateway.Forwarding;

/// <summary>Which of an instance's connection pools a forwarded request takes its connection from.</summary>
internal enum ConnectionPool
{
    /// <summary>Requests that generate on a slot: one connection per slot, so a slot's stream always has one.</summary>
    Generation,

    /// <summary>Requests that hold no slot (count_tokens, /v1/models): a small pool of their own.</summary>
    Short,
}
