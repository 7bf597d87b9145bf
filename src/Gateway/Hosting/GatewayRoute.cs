using LlamaGateway.Pipeline;

namespace LlamaGateway.Hosting;

/// <summary>
/// What the gateway does around an endpoint, attached to each mapped endpoint as metadata: whether a key is needed,
/// which per-user cap applies, the bounded label of its metrics and log lines, and the dialect of its errors. The
/// middleware reads it from the endpoint routing matched (<see cref="Of"/>), so authentication, limits, labels and the
/// handler always agree on what a request is, however its path is spelled.
/// </summary>
/// <param name="Label">Metric and log label: one of a fixed set.</param>
/// <param name="Access">Who may call it.</param>
/// <param name="Limit">The per-user cap its requests count against.</param>
/// <param name="Dialect">The error dialect; null when the caller's <c>anthropic-version</c> header decides.</param>
/// <param name="Route">The model route it serves through the pipeline, if any.</param>
internal sealed record GatewayRoute(string Label, RouteAccess Access, UserLimitPolicy Limit, ApiDialect? Dialect, ApiRoute? Route = null)
{
    /// <summary>The label of anything that is not one of the known routes.</summary>
    public const string OtherLabel = "other";

    /// <summary>
    /// What a request is taken for when routing matched no endpoint or one without this metadata (ASP.NET Core's own
    /// endpoints): it needs a key, like everything not explicitly public, so an unknown path tells a stranger nothing.
    /// </summary>
    public static GatewayRoute Unmatched { get; } = new(OtherLabel, RouteAccess.UserKey, UserLimitPolicy.None, Dialect: null);

    /// <summary>A model route through the pipeline: keyed, capped, metered under its own path.</summary>
    public static GatewayRoute Model(ApiRoute route) =>
        new(route.Path(), RouteAccess.UserKey, route == ApiRoute.CountTokens ? UserLimitPolicy.CountTokens : UserLimitPolicy.Generation, route.ClientDialect(), route);

    /// <summary>Requests are counted and timed in the request metrics (every keyed endpoint, including the 404s).</summary>
    public bool Metered => Access == RouteAccess.UserKey;

    /// <summary>The metadata of the endpoint <paramref name="http"/> was matched to, or <see cref="Unmatched"/>.</summary>
    public static GatewayRoute Of(HttpContext http) => http.GetEndpoint()?.Metadata.GetMetadata<GatewayRoute>() ?? Unmatched;

    /// <summary>The dialect an error on this request must be written in, so the client can show its message.</summary>
    public ApiDialect DialectOf(HttpRequest request) =>
        Dialect ?? (request.Headers.ContainsKey("anthropic-version") ? ApiDialect.Anthropic : ApiDialect.OpenAi);
}
