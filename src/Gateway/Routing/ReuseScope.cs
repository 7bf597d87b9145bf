namespace LlamaGateway.Routing;

/// <summary>
/// Whose cached tokens one request may reuse (<see cref="IsolationMode"/>): anyone's, or only those computed for its
/// own identity (<see cref="Requester"/>; null is the anonymous identity of an open gateway's unidentified clients).
/// </summary>
internal readonly record struct ReuseScope(string? Requester, bool PerUser)
{
    /// <summary>Whether tokens computed for <paramref name="owner"/> may serve this request.</summary>
    public bool Covers(string? owner) => !PerUser || string.Equals(owner, Requester, StringComparison.Ordinal);
}
