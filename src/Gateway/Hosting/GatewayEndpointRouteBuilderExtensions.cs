using LlamaGateway.Errors;
using LlamaGateway.Forwarding;
using LlamaGateway.Pipeline;
using LlamaGateway.Status;

namespace LlamaGateway.Hosting;

internal static class GatewayEndpointRouteBuilderExtensions
{
    /// <summary>Maps the model routes onto the pipeline and answers Claude Code's probes locally.</summary>
    public static IEndpointRouteBuilder MapGateway(this IEndpointRouteBuilder endpoints)
    {
        var handler = endpoints.ServiceProvider.GetRequiredService<ModelRequestHandler>();
        endpoints.MapPost("/v1/messages", http => handler.HandleAsync(http, ApiRoute.Messages));
        endpoints.MapPost("/v1/messages/count_tokens", http => handler.HandleAsync(http, ApiRoute.CountTokens));
        endpoints.MapPost("/v1/chat/completions", http => handler.HandleAsync(http, ApiRoute.ChatCompletions));
        endpoints.MapPost("/completion", http => handler.HandleAsync(http, ApiRoute.Completion));
        endpoints.MapGet("/v1/models", ModelsEndpoint.HandleAsync);

        // Claude Code probes these before its first request; a 404/405 reads to it as "endpoint down".
        endpoints.MapMethods("/", ["HEAD"], static () => Results.Ok());
        endpoints.MapMethods("/api/hello", ["HEAD", "GET"], static () => Results.Ok());
        endpoints.MapGet("/healthz", static () => Results.Text("ok"));
        endpoints.MapGatewayStatus();

        // Anything else under /v1 gets a clear error in the caller's dialect rather than an empty 404.
        endpoints.Map("/v1/{**rest}", static http =>
        {
            var dialect = http.Request.Path.StartsWithSegments("/v1/messages") || http.Request.Headers.ContainsKey("anthropic-version") ? ApiDialect.Anthropic : ApiDialect.OpenAi;
            return ApiErrorWriter.WriteAsync(http, dialect, ApiErrorKind.NotFound, $"The gateway does not serve {http.Request.Method} {http.Request.Path}.");
        });
        return endpoints;
    }
}
