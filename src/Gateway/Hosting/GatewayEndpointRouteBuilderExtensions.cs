using LlamaGateway.Errors;
using LlamaGateway.Forwarding;
using LlamaGateway.Pipeline;
using LlamaGateway.Status;

namespace LlamaGateway.Hosting;

internal static class GatewayEndpointRouteBuilderExtensions
{
    private static readonly GatewayRoute Models = new("/v1/models", RouteAccess.UserKey, UserLimitPolicy.None, Dialect: null);
    private static readonly GatewayRoute Probe = new("probe", RouteAccess.Public, UserLimitPolicy.None, Dialect: null);
    private static readonly GatewayRoute UnknownMessagesRoute = new(GatewayRoute.OtherLabel, RouteAccess.UserKey, UserLimitPolicy.None, ApiDialect.Anthropic);

    /// <summary>
    /// The route table: maps the model routes onto the pipeline and answers Claude Code's probes locally. Every
    /// endpoint carries its <see cref="GatewayRoute"/>, from which the middleware decides keys, caps and labels.
    /// </summary>
    public static IEndpointRouteBuilder MapGateway(this IEndpointRouteBuilder endpoints)
    {
        var handler = endpoints.ServiceProvider.GetRequiredService<ModelRequestHandler>();
        MapModelRoute(endpoints, handler, ApiRoute.Messages);
        MapModelRoute(endpoints, handler, ApiRoute.CountTokens);
        MapModelRoute(endpoints, handler, ApiRoute.ChatCompletions);
        MapModelRoute(endpoints, handler, ApiRoute.Completion);
        endpoints.MapGet("/v1/models", ModelsEndpoint.HandleAsync).WithMetadata(Models);

        // Claude Code probes these before its first request; a 404/405 reads to it as "endpoint down".
        endpoints.MapMethods("/", ["HEAD"], static () => Results.Ok()).WithMetadata(Probe);
        endpoints.MapMethods("/api/hello", ["HEAD", "GET"], static () => Results.Ok()).WithMetadata(Probe);
        endpoints.MapGet("/healthz", static () => Results.Text("ok")).WithMetadata(Probe);
        endpoints.MapGatewayStatus();

        // Anything else gets a clear error in the caller's dialect rather than an empty 404 (after the key check: a
        // stranger learns nothing from which paths exist). Catch-alls match any method, so there is no 405 either.
        endpoints.Map("/v1/messages/{**rest}", NotFoundAsync).WithMetadata(UnknownMessagesRoute);
        endpoints.MapFallback("{**path}", NotFoundAsync).WithMetadata(GatewayRoute.Unmatched);
        return endpoints;
    }

    private static void MapModelRoute(IEndpointRouteBuilder endpoints, ModelRequestHandler handler, ApiRoute route) =>
        endpoints.MapPost(route.Path(), http => handler.HandleAsync(http, route)).WithMetadata(GatewayRoute.Model(route));

    private static Task NotFoundAsync(HttpContext http) =>
        ApiErrorWriter.WriteAsync(http, GatewayRoute.Of(http).DialectOf(http.Request), ApiErrorKind.NotFound, $"The gateway does not serve {BoundedText.Truncate(http.Request.Method, 32)} {BoundedText.Truncate(http.Request.Path.ToString())}.");
}
