using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.Bench.Cache;

namespace LlamaGateway.Bench.Overhead;

/// <summary>
/// Real Claude Code-sized request bodies built from the recorded ones: the recorded follow-up turn grown with
/// Read/Bash tool turns to the wanted size (100 KB, 200 KB), or, below the size of a full main-session request
/// (~54 KB), a subagent-like request with fewer tools. Every virtual client gets its own conversation (its own prompt
/// text and session), so the gateway routes them as distinct conversations, as it would distinct users.
/// Each body carries a request number (<see cref="Stamp"/>) in its newest tool result and its last prompt, so that, as
/// in a real follow-up turn, those messages are new in every request while the earlier ones and the tools repeat.
/// </summary>
internal static class OverheadBodies
{
    /// <summary>Where a request number goes: this text, its zeros overwritten by <see cref="Stamp"/>.</summary>
    public const string NumberMarker = "[request 000000000000]";

    private const int NumberDigits = 12;

    public static byte[] Build(int targetBytes, int client)
    {
        var fixture = ClaudeCodeFixture.Load("turn2-continue");
        var body = fixture.Body.DeepClone().AsObject();
        var rng = new Random(unchecked((targetBytes * 31) + (client * 7919) + 17) & 0x7FFFFFFF);

        // Distinct conversation per client: the first prompt and the session differ.
        var firstBlocks = body["messages"]![0]!["content"]!.AsArray();
        firstBlocks[^1]!["text"] = $"Client {client}: " + Text.HumanPrompt(rng);
        body["metadata"] = new JsonObject { ["user_id"] = $"{{\"device_id\":\"bench\",\"account_uuid\":\"\",\"session_id\":\"{Text.Guid(rng)}\"}}" };

        var tools = body["tools"]!.AsArray();
        while (Size(body) > targetBytes && tools.Count > 2)
        {
            // Subagents get fewer tools; drop the largest first.
            var largest = tools.OrderByDescending(t => t!.ToJsonString().Length).First();
            tools.Remove(largest);
        }

        var messages = body["messages"]!.AsArray();
        var last = messages[^1]!;
        messages.RemoveAt(messages.Count - 1);
        while (Size(body) + last.ToJsonString().Length < targetBytes - 600)
        {
            var id = Text.ToolUseId(rng);
            var remaining = targetBytes - Size(body) - last.ToJsonString().Length;
            var read = rng.Next(2) == 0;
            messages.Add(new JsonObject
            {
                ["role"] = "assistant",
                ["content"] = new JsonArray(new JsonObject
                {
                    ["type"] = "tool_use",
                    ["id"] = id,
                    ["name"] = read ? "Read" : "Bash",
                    ["input"] = read ? new JsonObject { ["file_path"] = "/tmp/proj1/" + Text.FileName(rng) } : new JsonObject { ["command"] = "dotnet test 2>&1 | tail -40" },
                }),
            });
            var size = Math.Clamp(remaining - 400, 200, 6000);
            messages.Add(new JsonObject
            {
                ["role"] = "user",
                ["content"] = new JsonArray(new JsonObject
                {
                    ["tool_use_id"] = id,
                    ["type"] = "tool_result",
                    ["content"] = read ? Text.SourceFile(rng, size) : Text.CommandOutput(rng, size),
                }),
            });
        }

        if (messages.Count > 0 && messages[^1]!["content"] is JsonArray { Count: > 0 } newest && newest[^1]!["content"] is JsonValue result)
        {
            newest[^1]!["content"] = NumberMarker + " " + result.GetValue<string>();
        }

        var lastBlocks = last["content"]!.AsArray();
        lastBlocks[^1]!["text"] = NumberMarker + " " + lastBlocks[^1]!["text"]!.GetValue<string>();
        messages.Add(last);
        return JsonSerializer.SerializeToUtf8Bytes(body);
    }

    /// <summary>Where <see cref="Stamp"/> writes in <paramref name="body"/>: the digits of every <see cref="NumberMarker"/>.</summary>
    public static int[] NumberOffsets(byte[] body)
    {
        var marker = System.Text.Encoding.UTF8.GetBytes(NumberMarker);
        var offsets = new List<int>();
        for (var at = body.AsSpan().IndexOf(marker); at >= 0;)
        {
            offsets.Add(at + marker.Length - 1 - NumberDigits);
            var next = body.AsSpan(at + marker.Length).IndexOf(marker);
            at = next < 0 ? -1 : at + marker.Length + next;
        }

        return [.. offsets];
    }

    /// <summary>Writes <paramref name="number"/> (zero-padded) into the body's markers, in place.</summary>
    public static void Stamp(byte[] body, int[] offsets, long number)
    {
        foreach (var offset in offsets)
        {
            var value = number;
            for (var i = NumberDigits - 1; i >= 0; i--)
            {
                body[offset + i] = (byte)('0' + (value % 10));
                value /= 10;
            }
        }
    }

    private static int Size(JsonObject body) => body.ToJsonString().Length;
}
