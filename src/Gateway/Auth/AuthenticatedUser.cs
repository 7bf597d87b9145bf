namespace LlamaGateway.Auth;

/// <summary>The configured user a request authenticated as; set as a feature by the authentication middleware.</summary>
internal sealed record AuthenticatedUser(string Name, bool IsAdmin);
