using System.Buffers;
using LlamaGateway.Pipeline;

namespace LlamaGateway.Errors;

/// <summary>
/// The error event that ends a stream that cannot finish, in the client's dialect, so the client sees a failure
/// instead of a silently truncated answer.
/// </summary>
internal static class StreamErrorEvent
{
    public static void Write(IBufferWriter<byte> output, ApiDialect dialect, ApiErrorKind kind, string message)
    {
        // Anthropic streams name the event; OpenAI streams carry an error object in a plain data line.
        output.Write(dialect == ApiDialect.Anthropic ? "event: error\ndata: "u8 : "data: "u8);
        ApiErrorWriter.WriteBody(output, dialect, kind, message);
        output.Write("\n\n"u8);
    }
}
