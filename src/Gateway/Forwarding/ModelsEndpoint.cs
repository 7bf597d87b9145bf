using System.Net.Http.Headers;
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
                error = await forwarder.SendAsync(http, instance.DestinationPrefix, connection.Invoker, ForwarderRequestConfig.Empty, new CredentialSwapTransformer(instance), http.RequestAborted);
            }

            if (error == ForwarderError.None || http.Response.HasStarted || http.RequestAborted.IsCancellationRequested)
            {
                return;
            }

            http.Response.StatusCode = StatusCodes.Status200OK;
        }

        await ApiErrorWriter.WriteAsync(http, dialect, ApiErrorKind.Overloaded, "No healthy upstream can list models right now; see /status.");
    }

    private sealed class CredentialSwapTransformer(UpstreamInstance instance) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.RequestUri = new Uri(instance.BaseUri, "v1/models");
            proxyRequest.Headers.Remove("x-api-key");
            proxyRequest.Headers.Authorization = string.IsNullOrEmpty(instance.Options.ApiKey) ? null : new AuthenticationHeaderValue("Bearer", instance.Options.ApiKey);
        }
    }
}
