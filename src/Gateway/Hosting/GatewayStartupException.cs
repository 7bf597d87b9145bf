namespace LlamaGateway.Hosting;

/// <summary>A start-up problem the user can fix, with a message that says what to fix; printed without a stack trace.</summary>
internal sealed class GatewayStartupException(string message, Exception? innerException = null) : Exception(message, innerException);
