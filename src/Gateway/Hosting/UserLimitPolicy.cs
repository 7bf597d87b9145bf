namespace LlamaGateway.Hosting;

/// <summary>Which per-user cap of <c>Gateway:Limits</c> an endpoint's requests count against (<see cref="GatewayRoute.Limit"/>).</summary>
internal enum UserLimitPolicy
{
    /// <summary>Not capped: the endpoint never reaches an upstream slot.</summary>
    None,

    /// <summary>Requests that generate on an upstream slot (messages, chat completions, completions).</summary>
    Generation,

    /// <summary>count_tokens: a cap of its own, so its bursts neither use up nor are refused by the generation cap.</summary>
    CountTokens,
}
