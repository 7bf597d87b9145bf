namespace LlamaGateway.Auth;

/// <summary>
/// Set as a feature when a request waited for one of its user's places (<see cref="UserConcurrencyLimiter"/>), so
/// the request log can say where its time went.
/// </summary>
internal sealed record UserCapWait(TimeSpan Waited);
