using LlamaGateway.Errors;
using LlamaGateway.Pipeline;
using LlamaGateway.Upstreams;
using Yarp.ReverseProxy.Forwarder;

namespace LlamaGateway.Forwarding;

/// <summary><c>GET /v1/models</c>: forwarded as is to a healthy instance (llama-server lists its model there).</summary>
internal static class ModelsEndpoint
{
    public static async Task HandleAsync(HttpContext http, IHttpForwarder forwarder, UpstreamHttpClient client, UpstreamRegistry registry)
    {
        var dialect = http.Request.Headers.ContainsKey("anthropic-version") ? ApiDialect.Anthropic : ApiDialect.OpenAi;
        foreach (var instance in registry.Instances)
        {
            if (!instance.IsHealthy)
            {
                continue;
            }

            ForwarderError error;
            using (var connection = await client.AcquireAsync(instance, ConnectionPool.Short, http.RequestAborted))
            {
                error = await forwarder.SendAsync(http, instance.DestinationPrefix, connection.Invoker, ForwarderRequestConfig.Empty, new CredentialSwapTransformer(instance, dialect), http.RequestAborted);
            }

            if (error == ForwarderError.None || http.Response.HasStarted || http.RequestAborted.IsCancellationRequested)
            {
                return;
            }

            http.Response.StatusCode = StatusCodes.Status200OK;
        }

        await ApiErrorWriter.WriteAsync(http, dialect, ApiErrorKind.Overloaded, "No healthy upstream can list models right now; see /status.");
    }

    private sealed class CredentialSwapTransformer(UpstreamInstance instance, ApiDialect dialect) : HttpTransformer
    {
        public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
        {
            // A redirect or a page that is not JSON (a proxy's login page, another service on the port) is not a model
            // list: relayed, a client would follow it or fail to parse it.
            if (proxyResponse is not null && ResponseRelay.NotAnApiAnswer(proxyResponse) is { } problem)
            {
                await ApiErrorWriter.WriteAsync(httpContext, dialect, ApiErrorKind.UpstreamError, $"Upstream '{instance.Name}' {problem}.");
                return false;
            }

            return await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        }

        public override ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            // The same allow list as model requests: the upstream's own Host and key, nothing of the caller's.
            proxyRequest.RequestUri = new Uri(instance.BaseUri, "v1/models");
            UpstreamRequestHeaders.Apply(httpContext, proxyRequest, instance, anthropicHeaders: instance.Dialect == ApiDialect.Anthropic);
            return ValueTask.CompletedTask;
        }
    }
}
