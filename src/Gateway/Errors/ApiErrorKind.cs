namespace LlamaGateway.Errors;

/// <summary>The gateway's error categories; each maps to an HTTP status and an Anthropic/OpenAI error type.</summary>
internal enum ApiErrorKind
{
    InvalidRequest,
    Authentication,
    NotFound,
    RequestTooLarge,
    RateLimited,
    UpstreamUnavailable,
    UpstreamError,
    UpstreamTimeout,
    Overloaded,
    Internal,
}
