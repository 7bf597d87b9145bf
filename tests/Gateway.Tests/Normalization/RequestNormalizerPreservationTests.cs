using System.Text;
using System.Text.Json.Nodes;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Support;
using static LlamaGateway.Tests.Normalization.NormalizerRun;

namespace LlamaGateway.Tests.Normalization;

public sealed class RequestNormalizerPreservationTests
{
    // Unusual but valid JSON: order, duplicates, unknown fields, escapes, raw non-ASCII, emoji (raw and as surrogate
    // escapes), numbers whose text would change if re-formatted.
    private const string Tricky = """
        {
          "messages": [
            {"role": "user", "content": [{"type": "text", "text": "caf\u00e9 café 😀 \ud83d\ude00 \u2028 \/ \"q\" \\ \u0001 tab\t <b>&amp;</b> 日本語"}], "extra": {"z": 1, "a": 2}},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Calc", "input": {"x": 1.0, "y": -0, "z": 1e400, "w": 1E-7, "big": 12345678901234567890123456789, "f": 0.1000, "ok": true, "no": false, "nil": null}}]}
          ],
          "model": "qwen",
          "system": [
            {"text": "x-anthropic-billing-header: cc_version=2.1.63.a43; cc_entrypoint=cli; cch=e2224;", "type": "text"},
            {"type": "text", "text": "Prompt with ✓ and \"quotes\"", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
          ],
          "dup": 1,
          "dup": [2, [3, [4, {}]], []],
          "temperature": 0.70,
          "unknown_object": {"nested": {"deeper": [1.50, "x", {"k": "v", "k": "w"}]}},
          "stream": true
        }
        """;

    [Fact]
    public void Normalize_TrickyBody_EverythingButBillingLineUnchanged()
    {
        var input = Encoding.UTF8.GetBytes(Tricky);

        var output = Ok(input, ApiRoute.Messages, Replace());

        // JsonNode drops duplicate keys, so compare against the input document with only that one string changed.
        var expectedText = Tricky.Replace("cc_version=2.1.63.a43; cc_entrypoint=cli; cch=e2224;", NormalizationSettings.DefaultBillingHeaderValue, StringComparison.Ordinal);
        Assert.NotEqual(Tricky, expectedText);
        JsonAssert.DeepEqual(Element(Encoding.UTF8.GetBytes(expectedText)), Element(output));
    }

    [Theory]
    [InlineData("1.0")]
    [InlineData("-0")]
    [InlineData("1e400")]
    [InlineData("1E-7")]
    [InlineData("12345678901234567890123456789")]
    [InlineData("0.1000")]
    [InlineData("0.70")]
    public void Normalize_Numbers_WrittenExactlyAsSent(string number)
    {
        var output = Encoding.UTF8.GetString(Ok(Encoding.UTF8.GetBytes(Tricky), ApiRoute.Messages, Replace()));

        Assert.Contains(":" + number + (number == "0.70" ? "," : string.Empty), output);
    }

    [Fact]
    public void Normalize_TrickyBody_StringsCopiedAsSentWhitespaceRemoved()
    {
        var output = Encoding.UTF8.GetString(Ok(Encoding.UTF8.GetBytes(Tricky), ApiRoute.Messages, Replace()));

        Assert.StartsWith("""{"messages":[{"role":"user","content":[{"type":"text","text":"caf\u00e9 café 😀 \ud83d\ude00 \u2028 \/ \"q\" \\ \u0001 tab\t <b>&amp;</b> 日本語"}],"extra":{"z":1,"a":2}},""", output);
        Assert.Contains("""
            "dup":1,"dup":[2,[3,[4,{}]],[]],"temperature":0.70,"unknown_object":{"nested":{"deeper":[1.50,"x",{"k":"v","k":"w"}]}},"stream":true}
            """, output);
        Assert.DoesNotContain("\n  ", output);
    }

    [Fact]
    public void Normalize_CreatedText_EscapedMinimallyLikeRelaxedEncoder()
    {
        var json = """{"messages":[{"role":"user","content":"a"},{"role":"system","content":"<b> & 'é' \"q\" back\\slash \u0001\t 😀 \u2028"}]}""";

        var output = Encoding.UTF8.GetString(Ok(Encoding.UTF8.GetBytes(json), ApiRoute.Messages, Replace()));

        Assert.Equal(
            """{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"<system-reminder>\n<b> & 'é' \"q\" back\\slash \u0001\t 😀 """ + "\u2028" + """\n</system-reminder>"}]}]}""",
            output);
    }

    [Fact]
    public void Normalize_RecordedRequestsWithFolding_OnlyBillingLineAndFoldedMessagesChange()
    {
        foreach (var name in Fixtures.RecordedRequestNames)
        {
            var output = Ok(Fixtures.RecordedBody(name), ApiRoute.Messages, Replace());

            // The expected body, built independently: every system message becomes a reminder block at the end of the
            // user message before it (in the recordings one always precedes it).
            var expected = JsonNode.Parse(Fixtures.RecordedBody(name))!;
            expected["system"]![0]!["text"] = CanonicalLine;
            var messages = expected["messages"]!.AsArray();
            for (var i = messages.Count - 1; i > 0; i--)
            {
                if ((string)messages[i]!["role"]! != "system")
                {
                    continue;
                }

                var content = messages[i]!["content"]!;
                var text = content is JsonArray parts ? string.Join("\n", parts.Select(p => (string)p!["text"]!)) : (string)content!;
                Assert.Equal("user", (string)messages[i - 1]!["role"]!);
                messages[i - 1]!["content"]!.AsArray().Add(new JsonObject { ["type"] = "text", ["text"] = $"<system-reminder>\n{text}\n</system-reminder>" });
                messages.RemoveAt(i);
            }

            JsonAssert.DeepEqual(Element(expected), Element(output));
        }
    }

    [Fact]
    public void Normalize_RecordedRequestsKeepNoFolding_DeepEqualToInput()
    {
        foreach (var name in Fixtures.RecordedRequestNames)
        {
            var input = Fixtures.RecordedBody(name);

            var output = Ok(input, ApiRoute.Messages, Settings(BillingHeaderMode.Keep, fold: false));

            JsonAssert.DeepEqual(Element(input), Element(output));
        }
    }

    [Fact]
    public void Normalize_IndentedInput_CompactOutput()
    {
        var input = Encoding.UTF8.GetBytes("{\n  \"a\" : [ 1 , 2 ],\r\n\t\"b\" : { }\n}\n");

        Assert.Equal("""{"a":[1,2],"b":{}}""", Encoding.UTF8.GetString(Ok(input, ApiRoute.Messages, Replace())));
    }
}
