namespace LlamaGateway.Streaming;

// Placeholder replaced by the streaming branch.
internal sealed class SseFormatException(string message) : Exception(message);
