using System.Text.Json;
using LlamaGateway.Auth;
using LlamaGateway.Errors;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Status;

/// <summary><c>GET /status.json</c>: the status document for the dashboard and for scripts (schema: docs/status-schema.json).</summary>
internal static class StatusJsonEndpoint
{
    public static async Task HandleAsync(HttpContext http, ApiKeyStore keys, StatusSnapshotBuilder builder)
    {
        http.Response.Headers.CacheControl = "no-store";
        var viewer = DashboardAccess.Authorize(http.Request, keys.Current, out var denial);
        if (viewer is null)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            await ApiErrorWriter.WriteAsync(http, ApiDialect.OpenAi, ApiErrorKind.Authentication, denial!);
            return;
        }

        var body = JsonSerializer.SerializeToUtf8Bytes(builder.Build(viewer), StatusJsonContext.Default.StatusDocument);
        http.Response.ContentType = "application/json; charset=utf-8";
        http.Response.ContentLength = body.Length;
        await http.Response.Body.WriteAsync(body, http.RequestAborted);
    }
}
