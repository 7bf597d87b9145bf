using System.Text;
using System.Text.Json;
using LlamaGateway.Errors;

namespace LlamaGateway.Normalization;

/// <summary>
/// Names the JSON field at a byte offset (<c>messages[2].content[0].text</c>) so that a 400 tells the client where its
/// body is wrong. Error path only: it allocates freely.
/// </summary>
internal static class JsonLocation
{
    public static string Describe(ReadOnlySpan<byte> body, long offset)
    {
        var path = new List<object>();
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = RequestNormalizer.MaxDepth });
        try
        {
            while (reader.Read() && reader.TokenStartIndex <= offset)
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        // Client-chosen names go into the error text: each is cut (BoundedText), decoded only if short.
                        path[^1] = reader.ValueIsEscaped && reader.ValueSpan.Length <= BoundedText.MaxChars * 4
                            ? BoundedText.Truncate(reader.GetString()!)
                            : BoundedText.FromUtf8(reader.ValueSpan);
                        break;
                    case JsonTokenType.StartObject:
                        BumpIndex(path);
                        path.Add(string.Empty);
                        break;
                    case JsonTokenType.StartArray:
                        BumpIndex(path);
                        path.Add(-1);
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        path.RemoveAt(path.Count - 1);
                        break;
                    default:
                        BumpIndex(path);
                        break;
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // The walk stops at the same fault; the path so far is the answer.
        }

        return Format(path);
    }

    /// <summary>The absolute byte offset of a reader error, from the line and column it reports.</summary>
    public static long OffsetOf(ReadOnlySpan<byte> body, JsonException error)
    {
        var line = error.LineNumber ?? 0;
        var start = 0;
        for (var i = 0L; i < line && start < body.Length; i++)
        {
            var newline = body[start..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                break;
            }

            start += newline + 1;
        }

        return start + (error.BytePositionInLine ?? 0);
    }

    private static void BumpIndex(List<object> path)
    {
        if (path.Count > 0 && path[^1] is int index)
        {
            path[^1] = index + 1;
        }
    }

    private static string Format(List<object> path)
    {
        var text = new StringBuilder();
        foreach (var part in path)
        {
            if (part is int index)
            {
                if (index >= 0)
                {
                    text.Append('[').Append(index).Append(']');
                }
            }
            else if (((string)part).Length > 0)
            {
                if (text.Length > 0)
                {
                    text.Append('.');
                }

                text.Append((string)part);
            }
        }

        return text.Length == 0 ? "the top level" : BoundedText.Truncate(text.ToString());
    }
}
