namespace LlamaGateway.Hosting;

/// <summary>Who may call an endpoint (<see cref="GatewayRoute.Access"/>).</summary>
internal enum RouteAccess
{
    /// <summary>A user key when users are configured: the model API, and anything the route table does not know.</summary>
    UserKey,

    /// <summary>Anyone: Claude Code's probes, which carry no information and must answer before any key is checked.</summary>
    Public,

    /// <summary>The endpoint checks keys itself (the dashboard and <c>/metrics</c> accept the admin key too).</summary>
    OwnKeys,
}
