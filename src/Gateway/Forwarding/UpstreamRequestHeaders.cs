using System.Net.Http.Headers;
using LlamaGateway.Pipeline;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Forwarding;

/// <summary>
/// The headers a request to an upstream carries: an allow list, not a copy of the client's. The upstream gets its own
/// <c>Host</c> (from its configured address), the gateway's own <c>Authorization</c> (its configured key, or none)
/// and content headers, and from the client only headers that describe the call and reveal nothing about the caller:
/// <c>Accept</c>, W3C trace context (<c>traceparent</c>, <c>tracestate</c>), and <c>anthropic-version</c> /
/// <c>anthropic-beta</c> when the upstream speaks the Anthropic dialect. Everything else (the client's keys in
/// <c>x-api-key</c>, <c>api-key</c> or <c>Authorization</c>, <c>Cookie</c>, <c>Proxy-*</c>, <c>X-Forwarded-*</c>,
/// <c>Forwarded</c>, Claude Code's session and agent headers, <c>User-Agent</c>, <c>baggage</c>, any custom header) is
/// never sent. docs/security.md ("Headers sent upstream") documents the list.
/// </summary>
internal static class UpstreamRequestHeaders
{
    /// <summary>Client headers every upstream may receive.</summary>
    public static readonly string[] Common = ["Accept", "traceparent", "tracestate"];

    /// <summary>Client headers an Anthropic-dialect upstream also receives (Claude Code's gateway protocol asks to forward them verbatim).</summary>
    public static readonly string[] Anthropic = ["anthropic-version", "anthropic-beta"];

    /// <summary>Sent instead of the client's, so an upstream's log names the gateway rather than each user's client build.</summary>
    public const string UserAgent = "llama-gateway";

    /// <summary>
    /// Replaces whatever headers <paramref name="proxyRequest"/> has with the allowed ones from the client request and the
    /// gateway's own. Content headers are left to the content the caller sets.
    /// </summary>
    public static void Apply(HttpContext http, HttpRequestMessage proxyRequest, UpstreamInstance instance, bool anthropicHeaders)
    {
        var headers = proxyRequest.Headers;
        headers.Clear();
        Copy(http, headers, Common);
        if (anthropicHeaders)
        {
            Copy(http, headers, Anthropic);
        }

        // Host stays unset: HttpClient then sends the upstream URI's own authority.
        headers.Host = null;
        headers.TryAddWithoutValidation("User-Agent", UserAgent);
        if (!string.IsNullOrEmpty(instance.Options.ApiKey))
        {
            headers.Authorization = new AuthenticationHeaderValue("Bearer", instance.Options.ApiKey);
        }
    }

    /// <summary>Whether the upstream of a request on <paramref name="route"/> speaks the Anthropic dialect there.</summary>
    public static bool SendsAnthropicHeaders(ApiRoute route, UpstreamInstance instance, bool translated) =>
        !translated && (route.ClientDialect() == ApiDialect.Anthropic) && (instance.Dialect == ApiDialect.Anthropic || route == ApiRoute.CountTokens);

    private static void Copy(HttpContext http, HttpRequestHeaders headers, string[] names)
    {
        foreach (var name in names)
        {
            var values = http.Request.Headers[name];
            if (values.Count > 0)
            {
                headers.TryAddWithoutValidation(name, (IEnumerable<string>)values!);
            }
        }
    }
}
