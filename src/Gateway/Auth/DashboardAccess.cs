namespace LlamaGateway.Auth;

/// <summary>
/// Key checks for /status.json and /metrics. With no key configured at all they are open; otherwise the admin key
/// sees everything and a user key sees that user's rows plus aggregates. The key comes in a header only: a key in
/// the query string would be written to the request log.
/// </summary>
internal static class DashboardAccess
{
    public static DashboardViewer? Authorize(HttpRequest request, KeySet keys, out string? denial)
    {
        denial = null;
        if (!keys.HasAnyKey)
        {
            return DashboardViewer.Open;
        }

        var presented = ApiKeyReader.Read(request);
        if (presented is null)
        {
            denial = "This gateway requires a key: send your API key (or the admin key) as x-api-key or Authorization: Bearer.";
            return null;
        }

        var user = keys.Authenticate(presented);
        if (user is null)
        {
            denial = "Invalid key for this gateway.";
            return null;
        }

        return user.IsAdmin ? DashboardViewer.Admin : new DashboardViewer(false, user.Name);
    }
}
