using System.Buffers;
using System.Text.Json;
using LlamaGateway.Pipeline;
using LlamaGateway.Normalization;

namespace LlamaGateway.Translation;

/// <summary>Translates an Anthropic Messages request body into an OpenAI chat-completions body for llama-server.</summary>
/// <remarks>
/// Output is a pure function of the request's bytes: property order is fixed, <c>cache_control</c> is never copied,
/// and strings keep the escapes the client wrote (llama-server decodes the JSON before it renders the prompt, so
/// escaping never changes the tokens). A message therefore serializes to the same bytes in every later turn and
/// llama-server's prefix cache keeps matching. Consecutive messages are never merged for the same reason: merging
/// would rewrite an earlier message when a new one is appended.
/// </remarks>
internal static class AnthropicToOpenAiRequest
{
    /// <summary>
    /// Writes the chat-completions body to <paramref name="output"/>. On failure (the outcome says why, naming the
    /// field) <paramref name="output"/> may hold a partial body and must be discarded.
    /// </summary>
    public static TranslationOutcome Translate(ReadOnlyMemory<byte> anthropicBody, in ChatRequestSettings settings, IBufferWriter<byte> output)
    {
        // Escaped lone surrogates (JSON.stringify writes them for broken text) are rejected by the tokenizer, so a body
        // with any is translated from a copy where they became U+FFFD; the usual body is read in place.
        byte[]? copy = null;
        var source = anthropicBody;
        if (JsonText.HasLoneSurrogateEscape(anthropicBody.Span))
        {
            copy = BodyBufferPool.Bytes.Rent(anthropicBody.Length);
            anthropicBody.Span.CopyTo(copy);
            JsonText.ReplaceLoneSurrogateEscapes(copy.AsSpan(0, anthropicBody.Length));
            source = copy.AsMemory(0, anthropicBody.Length);
        }

        try
        {
            JsonTape tape;
            try
            {
                tape = JsonTape.Parse(source, JsonText.DocumentOptions.MaxDepth);
            }
            catch (JsonException e)
            {
                return TranslationOutcome.Fail($"request body is not valid JSON: {e.Message}");
            }

            using (tape)
            {
                return Translate(tape, settings, output);
            }
        }
        finally
        {
            if (copy is not null)
            {
                BodyBufferPool.Bytes.Return(copy);
            }
        }
    }

    /// <summary>
    /// As <see cref="Translate(ReadOnlyMemory{byte}, in ChatRequestSettings, IBufferWriter{byte})"/> from the tape of
    /// the normalized body, which the request path builds once. A body with a tape has no escaped lone surrogates
    /// (the tokenizer rejects them).
    /// </summary>
    public static TranslationOutcome Translate(JsonTape tape, in ChatRequestSettings settings, IBufferWriter<byte> output)
    {
        try
        {
            WriteRequest(tape.Root, settings, new RawJsonWriter(output, tape.IsCompact), out var stream, out var model);
            return new TranslationOutcome(true, null, stream, model);
        }
        catch (TranslationException e)
        {
            return TranslationOutcome.Fail(e.Message);
        }
    }

    private static void WriteRequest(JsonTapeValue root, in ChatRequestSettings settings, RawJsonWriter writer, out bool stream, out string model)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new TranslationException("request body must be a JSON object");
        }

        if (!root.TryGetProperty("model"u8, out var modelElement) || modelElement.ValueKind != JsonValueKind.String)
        {
            throw new TranslationException("model must be a string");
        }

        model = modelElement.GetString()!;
        if (!root.TryGetProperty("messages"u8, out var messages) || messages.ValueKind != JsonValueKind.Array)
        {
            throw new TranslationException("messages must be an array");
        }

        stream = false;
        if (root.TryGetProperty("stream"u8, out var streamElement))
        {
            stream = streamElement.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False or JsonValueKind.Null => false,
                _ => throw new TranslationException("stream must be a boolean"),
            };
        }

        writer.WriteStartObject();
        writer.WritePropertyName("model"u8);
        writer.WriteValue(modelElement);

        writer.WritePropertyName("messages"u8);
        writer.WriteStartArray();
        if (root.TryGetProperty("system"u8, out var system))
        {
            WriteTopLevelSystem(system, writer);
        }

        var index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            Reusing(message, TranslationUse.Message, writer, (message, index), static (m, w) => WriteMessage(m.message, m.index, w));
            index++;
        }

        writer.WriteEndArray();

        if (root.TryGetProperty("tools"u8, out var tools))
        {
            Reusing(tools, TranslationUse.Tools, writer, tools, static (t, w) => WriteTools(t, w));
        }

        if (root.TryGetProperty("tool_choice"u8, out var toolChoice) && toolChoice.ValueKind != JsonValueKind.Null)
        {
            WriteToolChoice(toolChoice, writer);
        }

        WriteMaxTokens(root, settings, writer);

        if (root.TryGetProperty("stop_sequences"u8, out var stops) && stops.ValueKind != JsonValueKind.Null)
        {
            WriteStop(stops, writer);
        }

        WriteNumber(root, "temperature"u8, "temperature", writer);
        WriteNumber(root, "top_p"u8, "top_p", writer);
        WriteNumber(root, "top_k"u8, "top_k", writer);

        writer.WriteBoolean("stream"u8, stream);
        if (stream)
        {
            // Without this llama-server sends no usage chunk, and the final usage is what the gateway reports.
            writer.WritePropertyName("stream_options"u8);
            writer.WriteStartObject();
            writer.WriteBoolean("include_usage"u8, true);
            writer.WriteEndObject();
        }

        if (settings.IdSlot is { } slot)
        {
            writer.WriteNumber("id_slot"u8, slot);
        }

        writer.WriteBoolean("cache_prompt"u8, !settings.IsolatePrompt);
        writer.WriteEndObject();
    }

    /// <summary>
    /// Writes <paramref name="value"/> with <paramref name="write"/>, or, when the normalizer copied it from the reuse
    /// cache and an earlier request translated it for the same use, writes what that request wrote. The output of each
    /// use depends on the value's bytes alone (paths only name errors, and a failed translation keeps no memo), so
    /// Claude Code's tools array and a conversation's earlier turns are translated once, not every turn.
    /// </summary>
    private static void Reusing<TState>(JsonTapeValue value, TranslationUse use, RawJsonWriter writer, TState state, Action<TState, RawJsonWriter> write)
    {
        if (writer.Capturing || value.Spliced is not { } cached)
        {
            write(state, writer);
            return;
        }

        if (cached.Translation is { } memo && memo.Use == use && memo.Compact == writer.SourceIsCompact)
        {
            writer.WriteCaptured(memo.Bytes);
            return;
        }

        writer.BeginCapture();
        write(state, writer);
        cached.Translation = new TranslationMemo(use, writer.SourceIsCompact, writer.EndCapture());
    }

    private static void WriteTopLevelSystem(JsonTapeValue system, RawJsonWriter writer)
    {
        var path = new FieldPath("system");
        if (system.ValueKind == JsonValueKind.Null || !HasText(system, path))
        {
            return;
        }

        writer.WriteStartObject();
        writer.WriteString("role"u8, "system"u8);
        writer.WritePropertyName("content"u8);
        WriteJoinedText(system, path, writer);
        writer.WriteEndObject();
    }

    private static void WriteMessage(JsonTapeValue message, int index, RawJsonWriter writer)
    {
        var path = new FieldPath("messages", index);
        if (message.ValueKind != JsonValueKind.Object)
        {
            throw new TranslationException($"{path} must be an object");
        }

        if (!message.TryGetProperty("role"u8, out var role) || role.ValueKind != JsonValueKind.String)
        {
            throw new TranslationException($"{path}.role must be a string");
        }

        if (!message.TryGetProperty("content"u8, out var content)
            || (content.ValueKind != JsonValueKind.String && content.ValueKind != JsonValueKind.Array))
        {
            throw new TranslationException($"{path}.content must be a string or an array of content blocks");
        }

        if (role.ValueEquals("user"u8))
        {
            // A user message held back for folding reaches the reuse cache as its content: reused at that level.
            Reusing(content, TranslationUse.UserContent, writer, (content, path), static (c, w) => WriteUserMessage(c.content, c.path, w));
        }
        else if (role.ValueEquals("assistant"u8))
        {
            WriteAssistantMessage(content, path, writer);
        }
        else if (role.ValueEquals("system"u8))
        {
            // Kept where the client put it; folding it into a user turn for templates that reject late system
            // messages is the normalizer's job, so this stays a faithful translation.
            writer.WriteStartObject();
            writer.WriteString("role"u8, "system"u8);
            writer.WritePropertyName("content"u8);
            WriteJoinedText(content, path, writer);
            writer.WriteEndObject();
        }
        else
        {
            throw new TranslationException($"{path}.role must be \"user\", \"assistant\" or \"system\"");
        }
    }

    private static void WriteUserMessage(JsonTapeValue content, FieldPath message, RawJsonWriter writer)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            writer.WriteStartObject();
            writer.WriteString("role"u8, "user"u8);
            writer.WritePropertyName("content"u8);
            writer.WriteValue(content);
            writer.WriteEndObject();
            return;
        }

        // Tool results first, each as its own tool message, then whatever else the turn carried.
        var parts = 0;
        var onlyText = true;
        var toolResults = 0;
        var blockIndex = 0;
        foreach (var block in content.EnumerateArray())
        {
            var path = message.Then(blockIndex);
            var type = BlockType(block, path);
            if (type.ValueEquals("tool_result"u8))
            {
                toolResults++;
                var images = WriteToolMessage(block, path, writer);
                parts += images;
                onlyText &= images == 0;
            }
            else
            {
                parts++;
                onlyText &= !type.ValueEquals("image"u8);
                ValidateUserBlock(block, type, path);
            }

            blockIndex++;
        }

        if (parts == 0)
        {
            if (toolResults == 0)
            {
                // An empty turn still occupies its position, so later turns keep their shape.
                writer.WriteStartObject();
                writer.WriteString("role"u8, "user"u8);
                writer.WriteString("content"u8, ""u8);
                writer.WriteEndObject();
            }

            return;
        }

        writer.WriteStartObject();
        writer.WriteString("role"u8, "user"u8);
        writer.WritePropertyName("content"u8);
        if (parts == 1 && onlyText)
        {
            // One text block and a plain string are the same logical content, so they produce the same bytes.
            foreach (var block in content.EnumerateArray())
            {
                if (!BlockType(block, message).ValueEquals("tool_result"u8))
                {
                    WriteUserBlockAsText(block, message, writer);
                }
            }
        }
        else
        {
            writer.WriteStartArray();
            blockIndex = 0;
            foreach (var block in content.EnumerateArray())
            {
                if (BlockType(block, message).ValueEquals("tool_result"u8))
                {
                    // Images a tool returned cannot ride in a tool message; they lead the user content instead.
                    WriteToolResultImages(block, message.Then(blockIndex), writer);
                }

                blockIndex++;
            }

            blockIndex = 0;
            foreach (var block in content.EnumerateArray())
            {
                var type = BlockType(block, message);
                if (!type.ValueEquals("tool_result"u8))
                {
                    WriteUserPart(block, type, message.Then(blockIndex), writer);
                }

                blockIndex++;
            }

            writer.WriteEndArray();
        }

        writer.WriteEndObject();
    }

    /// <summary>Writes one tool message and returns how many images the result carried.</summary>
    private static int WriteToolMessage(JsonTapeValue block, FieldPath path, RawJsonWriter writer)
    {
        if (!block.TryGetProperty("tool_use_id"u8, out var toolUseId) || toolUseId.ValueKind != JsonValueKind.String)
        {
            throw new TranslationException($"{path}.tool_use_id must be a string");
        }

        writer.WriteStartObject();
        writer.WriteString("role"u8, "tool"u8);
        writer.WritePropertyName("tool_call_id"u8);
        writer.WriteValue(toolUseId);
        writer.WritePropertyName("content"u8);

        var images = 0;
        if (!block.TryGetProperty("content"u8, out var content) || content.ValueKind == JsonValueKind.Null)
        {
            writer.WriteStringValue(""u8);
        }
        else if (content.ValueKind == JsonValueKind.String)
        {
            writer.WriteValue(content);
        }
        else if (content.ValueKind == JsonValueKind.Array)
        {
            var first = true;
            var partIndex = 0;
            foreach (var part in content.EnumerateArray())
            {
                var partPath = path.Then(partIndex);
                var type = BlockType(part, partPath);
                if (type.ValueEquals("image"u8))
                {
                    ValidateImage(part, partPath);
                    images++;
                }
                else
                {
                    if (!first)
                    {
                        writer.WriteStringValueSegment("\n"u8, false);
                    }

                    WriteTextOrPlaceholderSegment(part, type, partPath, writer);
                    first = false;
                }

                partIndex++;
            }

            writer.WriteStringValueSegment(ReadOnlySpan<byte>.Empty, true);
        }
        else
        {
            throw new TranslationException($"{path}.content must be a string or an array of content blocks");
        }

        writer.WriteEndObject();
        return images;
    }

    private static void WriteToolResultImages(JsonTapeValue block, FieldPath path, RawJsonWriter writer)
    {
        if (!block.TryGetProperty("content"u8, out var content) || content.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        var partIndex = 0;
        foreach (var part in content.EnumerateArray())
        {
            if (BlockType(part, path).ValueEquals("image"u8))
            {
                WriteImagePart(part, path.Then(partIndex), writer);
            }

            partIndex++;
        }
    }

    private static void ValidateUserBlock(JsonTapeValue block, JsonTapeValue type, FieldPath path)
    {
        if (type.ValueEquals("text"u8))
        {
            RequireString(block, "text"u8, path, "text");
        }
        else if (type.ValueEquals("image"u8))
        {
            ValidateImage(block, path);
        }
    }

    /// <summary>Writes a non-image user block as a complete string value.</summary>
    private static void WriteUserBlockAsText(JsonTapeValue block, FieldPath path, RawJsonWriter writer)
    {
        var type = BlockType(block, path);
        WriteTextOrPlaceholderSegment(block, type, path, writer);
        writer.WriteStringValueSegment(ReadOnlySpan<byte>.Empty, true);
    }

    private static void WriteUserPart(JsonTapeValue block, JsonTapeValue type, FieldPath path, RawJsonWriter writer)
    {
        if (type.ValueEquals("image"u8))
        {
            WriteImagePart(block, path, writer);
            return;
        }

        writer.WriteStartObject();
        writer.WriteString("type"u8, "text"u8);
        writer.WritePropertyName("text"u8);
        WriteTextOrPlaceholderSegment(block, type, path, writer);
        writer.WriteStringValueSegment(ReadOnlySpan<byte>.Empty, true);
        writer.WriteEndObject();
    }

    /// <summary>
    /// Text blocks give their text; a document with a text source gives its text; anything else the model cannot
    /// read becomes a short placeholder, so a conversation that once contained such a block keeps working.
    /// </summary>
    private static void WriteTextOrPlaceholderSegment(JsonTapeValue block, JsonTapeValue type, FieldPath path, RawJsonWriter writer)
    {
        if (type.ValueEquals("text"u8))
        {
            writer.WriteStringSegment(RequireString(block, "text"u8, path, "text"), false);
            return;
        }

        if (type.ValueEquals("document"u8)
            && block.TryGetProperty("source"u8, out var source) && source.ValueKind == JsonValueKind.Object
            && source.TryGetProperty("type"u8, out var sourceType) && sourceType.ValueEquals("text"u8)
            && source.TryGetProperty("data"u8, out var data) && data.ValueKind == JsonValueKind.String)
        {
            writer.WriteStringSegment(data, false);
            return;
        }

        writer.WriteStringValueSegment("["u8, false);
        writer.WriteStringSegment(type, false);
        writer.WriteStringValueSegment(" block omitted]"u8, false);
    }

    private static void ValidateImage(JsonTapeValue block, FieldPath path)
    {
        if (!block.TryGetProperty("source"u8, out var source) || source.ValueKind != JsonValueKind.Object
            || !source.TryGetProperty("type"u8, out var sourceType) || sourceType.ValueKind != JsonValueKind.String)
        {
            throw new TranslationException($"{path}.source must be an object with a type");
        }

        if (sourceType.ValueEquals("base64"u8))
        {
            RequireString(source, "media_type"u8, path, "source.media_type");
            RequireString(source, "data"u8, path, "source.data");
        }
        else if (sourceType.ValueEquals("url"u8))
        {
            RequireString(source, "url"u8, path, "source.url");
        }
        else
        {
            throw new TranslationException($"{path}.source.type must be \"base64\" or \"url\"");
        }
    }

    private static void WriteImagePart(JsonTapeValue block, FieldPath path, RawJsonWriter writer)
    {
        ValidateImage(block, path);
        var source = block.GetProperty("source"u8);
        writer.WriteStartObject();
        writer.WriteString("type"u8, "image_url"u8);
        writer.WritePropertyName("image_url"u8);
        writer.WriteStartObject();
        writer.WritePropertyName("url"u8);
        if (source.GetProperty("type"u8).ValueEquals("base64"u8))
        {
            writer.WriteStringValueSegment("data:"u8, false);
            writer.WriteStringSegment(source.GetProperty("media_type"u8), false);
            writer.WriteStringValueSegment(";base64,"u8, false);
            writer.WriteStringSegment(source.GetProperty("data"u8), true);
        }
        else
        {
            writer.WriteValue(source.GetProperty("url"u8));
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void WriteAssistantMessage(JsonTapeValue content, FieldPath message, RawJsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteString("role"u8, "assistant"u8);
        if (content.ValueKind == JsonValueKind.String)
        {
            writer.WritePropertyName("content"u8);
            writer.WriteValue(content);
            writer.WriteEndObject();
            return;
        }

        var hasReasoning = false;
        var toolUses = 0;
        var blockIndex = 0;
        foreach (var block in content.EnumerateArray())
        {
            var path = message.Then(blockIndex);
            var type = BlockType(block, path);
            if (type.ValueEquals("text"u8))
            {
                RequireString(block, "text"u8, path, "text");
            }
            else if (type.ValueEquals("thinking"u8))
            {
                hasReasoning |= !RequireString(block, "thinking"u8, path, "thinking").IsEmptyString;
            }
            else if (type.ValueEquals("tool_use"u8))
            {
                RequireString(block, "id"u8, path, "id");
                RequireString(block, "name"u8, path, "name");
                toolUses++;
            }

            blockIndex++;
        }

        // llama-server rejects an assistant message with neither content nor tool_calls, so content is always set.
        writer.WritePropertyName("content"u8);
        WriteJoinedBlocks(content, "text"u8, "text"u8, writer);

        if (hasReasoning)
        {
            writer.WritePropertyName("reasoning_content"u8);
            WriteJoinedBlocks(content, "thinking"u8, "thinking"u8, writer);
        }

        if (toolUses > 0)
        {
            writer.WritePropertyName("tool_calls"u8);
            writer.WriteStartArray();
            foreach (var block in content.EnumerateArray())
            {
                if (!BlockType(block, message).ValueEquals("tool_use"u8))
                {
                    continue;
                }

                writer.WriteStartObject();
                writer.WritePropertyName("id"u8);
                writer.WriteValue(block.GetProperty("id"u8));
                writer.WriteString("type"u8, "function"u8);
                writer.WritePropertyName("function"u8);
                writer.WriteStartObject();
                writer.WritePropertyName("name"u8);
                writer.WriteValue(block.GetProperty("name"u8));
                writer.WritePropertyName("arguments"u8);
                WriteArguments(block, writer);
                writer.WriteEndObject();
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        writer.WriteEndObject();
    }

    /// <summary>The tool input as compact JSON text, the form OpenAI's <c>arguments</c> string carries.</summary>
    private static void WriteArguments(JsonTapeValue toolUse, RawJsonWriter writer)
    {
        if (!toolUse.TryGetProperty("input"u8, out var input) || input.ValueKind == JsonValueKind.Null)
        {
            writer.WriteStringValue("{}"u8);
            return;
        }

        writer.WriteValueAsString(input);
    }

    /// <summary>Joins the <paramref name="field"/> of every block of <paramref name="type"/> with "\n" into one string.</summary>
    private static void WriteJoinedBlocks(JsonTapeValue content, ReadOnlySpan<byte> type, ReadOnlySpan<byte> field, RawJsonWriter writer)
    {
        var first = true;
        foreach (var block in content.EnumerateArray())
        {
            if (!block.GetProperty("type"u8).ValueEquals(type))
            {
                continue;
            }

            if (!first)
            {
                writer.WriteStringValueSegment("\n"u8, false);
            }

            writer.WriteStringSegment(block.GetProperty(field), false);
            first = false;
        }

        writer.WriteStringValueSegment(ReadOnlySpan<byte>.Empty, true);
    }

    /// <summary>A string, or the text blocks of an array joined with "\n"; other block types are ignored.</summary>
    private static void WriteJoinedText(JsonTapeValue value, FieldPath path, RawJsonWriter writer)
    {
        if (value.ValueKind == JsonValueKind.String)
        {
            writer.WriteValue(value);
            return;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new TranslationException($"{path} must be a string or an array of text blocks");
        }

        var first = true;
        var blockIndex = 0;
        foreach (var block in value.EnumerateArray())
        {
            var blockPath = path.Then(blockIndex);
            if (BlockType(block, blockPath).ValueEquals("text"u8))
            {
                if (!first)
                {
                    writer.WriteStringValueSegment("\n"u8, false);
                }

                writer.WriteStringSegment(RequireString(block, "text"u8, blockPath, "text"), false);
                first = false;
            }

            blockIndex++;
        }

        writer.WriteStringValueSegment(ReadOnlySpan<byte>.Empty, true);
    }

    private static bool HasText(JsonTapeValue system, FieldPath path)
    {
        if (system.ValueKind == JsonValueKind.String)
        {
            return !system.IsEmptyString;
        }

        if (system.ValueKind != JsonValueKind.Array)
        {
            throw new TranslationException($"{path} must be a string or an array of text blocks");
        }

        var blockIndex = 0;
        foreach (var block in system.EnumerateArray())
        {
            if (BlockType(block, path.Then(blockIndex)).ValueEquals("text"u8))
            {
                return true;
            }

            blockIndex++;
        }

        return false;
    }

    private static void WriteTools(JsonTapeValue tools, RawJsonWriter writer)
    {
        if (tools.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (tools.ValueKind != JsonValueKind.Array)
        {
            throw new TranslationException("tools must be an array");
        }

        var started = false;
        var index = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var path = new FieldPath("tools", index);
            index++;
            if (tool.ValueKind != JsonValueKind.Object)
            {
                throw new TranslationException($"{path} must be an object");
            }

            var hasSchema = tool.TryGetProperty("input_schema"u8, out var schema) && schema.ValueKind != JsonValueKind.Null;
            if (!hasSchema)
            {
                // Server tools (web_search_..., code_execution_...) carry a type and no schema: the model cannot
                // run them locally, so they are left out rather than failing the whole request.
                if (tool.TryGetProperty("type"u8, out var toolType) && toolType.ValueKind == JsonValueKind.String
                    && !toolType.ValueEquals("custom"u8))
                {
                    continue;
                }

                throw new TranslationException($"{path}.input_schema is required");
            }

            if (schema.ValueKind != JsonValueKind.Object)
            {
                throw new TranslationException($"{path}.input_schema must be an object");
            }

            var name = RequireString(tool, "name"u8, path, "name");
            if (!started)
            {
                writer.WritePropertyName("tools"u8);
                writer.WriteStartArray();
                started = true;
            }

            writer.WriteStartObject();
            writer.WriteString("type"u8, "function"u8);
            writer.WritePropertyName("function"u8);
            writer.WriteStartObject();
            writer.WritePropertyName("name"u8);
            writer.WriteValue(name);

            // Some llama-server builds read description with .at(), so it is always present.
            writer.WritePropertyName("description"u8);
            if (tool.TryGetProperty("description"u8, out var description) && description.ValueKind == JsonValueKind.String)
            {
                writer.WriteValue(description);
            }
            else
            {
                writer.WriteStringValue(""u8);
            }

            writer.WritePropertyName("parameters"u8);
            writer.WriteValue(schema);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        if (started)
        {
            writer.WriteEndArray();
        }
    }

    private static void WriteToolChoice(JsonTapeValue toolChoice, RawJsonWriter writer)
    {
        if (toolChoice.ValueKind != JsonValueKind.Object
            || !toolChoice.TryGetProperty("type"u8, out var type) || type.ValueKind != JsonValueKind.String)
        {
            throw new TranslationException("tool_choice must be an object with a type");
        }

        writer.WritePropertyName("tool_choice"u8);
        if (type.ValueEquals("auto"u8))
        {
            writer.WriteStringValue("auto"u8);
        }
        else if (type.ValueEquals("any"u8))
        {
            writer.WriteStringValue("required"u8);
        }
        else if (type.ValueEquals("none"u8))
        {
            writer.WriteStringValue("none"u8);
        }
        else if (type.ValueEquals("tool"u8))
        {
            // llama-server reads tool_choice only as a string and falls back to "auto" for the named-function
            // object, so forcing a tool call ("required") is the closest it honours. Narrowing the tools list instead
            // would change the rendered prompt and cost the conversation its cached prefix.
            RequireString(toolChoice, "name"u8, new FieldPath("tool_choice"), "name");
            writer.WriteStringValue("required"u8);
        }
        else
        {
            throw new TranslationException("tool_choice.type must be \"auto\", \"any\", \"tool\" or \"none\"");
        }

        if (toolChoice.TryGetProperty("disable_parallel_tool_use"u8, out var disable))
        {
            if (disable.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                throw new TranslationException("tool_choice.disable_parallel_tool_use must be a boolean");
            }

            writer.WriteBoolean("parallel_tool_calls"u8, disable.ValueKind == JsonValueKind.False);
        }
    }

    private static void WriteMaxTokens(JsonTapeValue root, in ChatRequestSettings settings, RawJsonWriter writer)
    {
        long? requested = null;
        if (root.TryGetProperty("max_tokens"u8, out var maxTokens) && maxTokens.ValueKind != JsonValueKind.Null)
        {
            // Any notation of an integer (128000, 1e5, 1000.0), as llama-server would read it; huge ones are clamped.
            if (maxTokens.ValueKind != JsonValueKind.Number || !OutputTokenLimit.TryRead(maxTokens.Raw, out var value) || value < 1)
            {
                throw new TranslationException("max_tokens must be a positive integer");
            }

            requested = value;
        }

        if (OutputTokenLimit.Effective(requested, settings.MaxOutputTokens) is { } tokens)
        {
            writer.WriteNumber("max_tokens"u8, tokens);
        }
    }

    private static void WriteStop(JsonTapeValue stops, RawJsonWriter writer)
    {
        if (stops.ValueKind != JsonValueKind.Array)
        {
            throw new TranslationException("stop_sequences must be an array of strings");
        }

        if (stops.GetArrayLength() == 0)
        {
            return;
        }

        writer.WritePropertyName("stop"u8);
        writer.WriteStartArray();
        var index = 0;
        foreach (var stop in stops.EnumerateArray())
        {
            if (stop.ValueKind != JsonValueKind.String)
            {
                throw new TranslationException($"stop_sequences[{index}] must be a string");
            }

            writer.WriteValue(stop);
            index++;
        }

        writer.WriteEndArray();
    }

    private static void WriteNumber(JsonTapeValue root, ReadOnlySpan<byte> utf8Name, string name, RawJsonWriter writer)
    {
        if (!root.TryGetProperty(utf8Name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (value.ValueKind != JsonValueKind.Number)
        {
            throw new TranslationException($"{name} must be a number");
        }

        writer.WritePropertyName(utf8Name);
        writer.WriteValue(value);
    }

    private static JsonTapeValue BlockType(JsonTapeValue block, FieldPath path)
    {
        if (block.ValueKind != JsonValueKind.Object)
        {
            throw new TranslationException($"{path} must be an object");
        }

        if (!block.TryGetProperty("type"u8, out var type) || type.ValueKind != JsonValueKind.String)
        {
            throw new TranslationException($"{path}.type must be a string");
        }

        return type;
    }

    private static JsonTapeValue RequireString(JsonTapeValue owner, ReadOnlySpan<byte> utf8Name, FieldPath path, string name)
    {
        if (!owner.TryGetProperty(utf8Name, out var value) || value.ValueKind != JsonValueKind.String)
        {
            throw new TranslationException($"{path}.{name} must be a string");
        }

        return value;
    }

    /// <summary>
    /// Where a field is, formatted only when an error needs it ("messages[3].content[1].content[0]", "system[2]",
    /// "tools[4]"), so valid requests build no path strings.
    /// </summary>
    private readonly record struct FieldPath(string Root, int First = -1, int Second = -1, int Third = -1)
    {
        public FieldPath Then(int index) =>
            First < 0 ? this with { First = index } : Second < 0 ? this with { Second = index } : this with { Third = index };

        public override string ToString()
        {
            var text = First < 0 ? Root : $"{Root}[{First}]";
            if (Second >= 0)
            {
                text += Root == "messages" ? $".content[{Second}]" : $"[{Second}]";
            }

            return Third >= 0 ? $"{text}.content[{Third}]" : text;
        }
    }

    /// <summary>A request shape the translator cannot map; its message names the offending field.</summary>
    private sealed class TranslationException(string message) : Exception(message);
}
