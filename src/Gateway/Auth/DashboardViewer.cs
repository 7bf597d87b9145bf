namespace LlamaGateway.Auth;

/// <summary>Who is looking at the dashboard, status or metrics, and so how much they may see.</summary>
/// <param name="Full">Everything, every user's rows (the admin key, or no keys configured at all).</param>
/// <param name="User">The user whose own rows a user key shows; null for a full view.</param>
internal sealed record DashboardViewer(bool Full, string? User)
{
    public static DashboardViewer Open { get; } = new(true, null);

    public static DashboardViewer Admin { get; } = new(true, KeySet.AdminName);

    /// <summary>Whether a row belonging to <paramref name="user"/> is shown as is (otherwise it is redacted or left out).</summary>
    public bool Sees(string? user) => Full || (user is not null && string.Equals(user, User, StringComparison.Ordinal));
}
