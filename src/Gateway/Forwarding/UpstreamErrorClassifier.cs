namespace LlamaGateway.Forwarding;

/// <summary>Whose fault an upstream's error answer is.</summary>
internal enum UpstreamFault
{
    /// <summary>The request's: the upstream works, this request cannot be served (400 to the caller, health untouched).</summary>
    Request,

    /// <summary>The instance's: counts against its health (enough in a row take it out of routing).</summary>
    Instance,
}

/// <summary>
/// Tells a request-level error from real server trouble in an upstream's error answer. llama-server answers many
/// request-level problems with HTTP 500 <c>server_error</c>: its HTTP layer maps every C++ exception other than
/// <c>std::invalid_argument</c> to 500 (tools/server/server.cpp, <c>ex_wrapper</c>), which covers nlohmann::json's
/// parse, type and range errors (<c>"temperature": 1e999</c>), <c>std::runtime_error</c>s thrown while parsing the
/// request (an image without <c>--mmproj</c>, <c>"tools": "x"</c>, a message without a role) and chat template
/// errors. Counting those against the instance let one user's bad requests (and the SDKs' retries of a 5xx) take the
/// instance away from everyone.
/// </summary>
/// <remarks>
/// A 4xx is always the request's. A 5xx is the request's only when llama-server typed it so
/// (<c>invalid_request_error</c>, <c>exceed_context_size_error</c>, <c>not_supported_error</c>) or when it is a JSON
/// error whose message matches what llama-server says about requests; a message that starts like real trouble
/// (<c>Compute error.</c>, <c>failed to process ...</c>, <c>unknown error</c>) stays the instance's, and so does any 5xx
/// the patterns do not know, a 502/503/504, a non-JSON body or no body. A request can at most make its own error
/// not count, never make another's count.
/// </remarks>
internal static class UpstreamErrorClassifier
{
    /// <summary>Types llama-server (<c>format_error_response</c>) gives errors that are about the request.</summary>
    private static readonly string[] RequestTypes = ["invalid_request_error", "exceed_context_size_error", "not_supported_error"];

    /// <summary>
    /// How real server trouble starts in llama-server (tools/server/server-context.cpp: decode failures, exceptions
    /// outside request parsing, slot state errors); checked first, so such a message stays the instance's even when
    /// it also contains a request-level word ("No available space in KV cache or invalid slot save file").
    /// </summary>
    private static readonly string[] InstancePrefixes =
    [
        "compute error", "failed to process", "failed to decode", "decode", "unable to", "unknown error", "empty response",
        "out of memory", "internal server error", "no available space", "could not", "speculative",
    ];

    /// <summary>
    /// What llama-server's messages about a request contain (tools/server/server-common.cpp, server-schema.cpp,
    /// common/chat.cpp, common/jinja): JSON parse/type/range errors, unsupported input, context limits, missing or
    /// malformed fields, chat template errors.
    /// </summary>
    private static readonly string[] RequestPatterns =
    [
        "[json.exception.", "failed to parse", "not supported", "unsupported", "does not support", "context size",
        "context length", "context shift", "too large to process", "is required", "must be", "must not", "expected",
        "missing", "invalid", "cannot ", "requires", "failed to load image", "failed to download", "failed to format",
        "failed to tokenize", "failed to apply chat template", "while executing", "error executing", "parser error",
        "jinja", "grammar", "json_schema", "only no echo", "multimodal",
    ];

    /// <summary>The prefix llama-server puts on exceptions caught while a slot works on a request.</summary>
    private const string CaughtPrefix = "got exception: ";

    public static UpstreamFault Classify(int status, in UpstreamErrorBody error)
    {
        if (status < 500)
        {
            return UpstreamFault.Request;
        }

        if (error.Shape is not (UpstreamErrorShape.OpenAi or UpstreamErrorShape.Anthropic))
        {
            return UpstreamFault.Instance;
        }

        if (error.Type is { } type && Array.IndexOf(RequestTypes, type) >= 0)
        {
            return UpstreamFault.Request;
        }

        if (status != 500 || error.Message is not { Length: > 0 } message)
        {
            return UpstreamFault.Instance;
        }

        return IsRequestLevel(message) ? UpstreamFault.Request : UpstreamFault.Instance;
    }

    /// <summary>Whether an upstream error message (HTTP 500 or a mid-stream error event) is about the request.</summary>
    public static bool IsRequestLevel(string message)
    {
        var text = message.AsSpan().Trim();
        while (text.StartsWith(CaughtPrefix, StringComparison.OrdinalIgnoreCase))
        {
            text = text[CaughtPrefix.Length..].TrimStart();
        }

        foreach (var prefix in InstancePrefixes)
        {
            if (text.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        foreach (var pattern in RequestPatterns)
        {
            if (text.Contains(pattern, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
