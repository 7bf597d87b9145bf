namespace LlamaGateway.Forwarding;

/// <summary>
/// The handler an <see cref="HttpMessageInvoker"/> wrapper must pass to its base, which the gateway's wrappers
/// (<see cref="PausableInvoker"/>, <see cref="ClosedConnectionInvoker"/>) never use: every call goes to the invoker they wrap.
/// </summary>
internal sealed class UnusedHandler : HttpMessageHandler
{
    public static readonly UnusedHandler Instance = new();

    private UnusedHandler()
    {
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("The gateway forwards through the invoker this one wraps.");
}
