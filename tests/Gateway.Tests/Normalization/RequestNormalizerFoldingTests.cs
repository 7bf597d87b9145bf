using System.Text;
using System.Text.Json.Nodes;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Support;
using static LlamaGateway.Tests.Normalization.NormalizerRun;

namespace LlamaGateway.Tests.Normalization;

public sealed class RequestNormalizerFoldingTests
{
    private const string Env = "# Environment\nYou have been invoked in the following environment: \n - Primary working directory: /tmp/p";

    private static string Reminder(string text) => $"<system-reminder>\n{text}\n</system-reminder>";

    private static JsonArray Messages(string json, ApiRoute route = ApiRoute.Messages) =>
        OkNode(json, route, Replace())["messages"]!.AsArray();

    [Fact]
    public void Normalize_SystemAfterUser_AppendedToPrecedingUserAsReminderBlock()
    {
        var json = Fill("""{"messages":[{"role":"user","content":[{"type":"text","text":"Say hello"}]},{"role":"system","content":@0}]}""", Env);

        var (outcome, body) = Run(Encoding.UTF8.GetBytes(json), ApiRoute.Messages, Replace());

        Assert.Equal(1, outcome.SystemMessagesFolded);
        Assert.Equal(
            Fill("""{"messages":[{"role":"user","content":[{"type":"text","text":"Say hello"},{"type":"text","text":@0}]}]}""", Reminder(Env)),
            Encoding.UTF8.GetString(body));
    }

    [Fact]
    public void Normalize_TargetUserContentString_BecomesTextBlockThenReminder()
    {
        var messages = Messages("""{"messages":[{"role":"user","content":"Say hello"},{"role":"system","content":"env"}]}""");

        Assert.Equal(Fill("""[{"role":"user","content":[{"type":"text","text":"Say hello"},{"type":"text","text":@0}]}]""", Reminder("env")), messages.ToJsonString(RelaxedJson));
    }

    [Fact]
    public void Normalize_SystemBetweenAssistantAndUser_PrependedToFollowingUser()
    {
        var messages = Messages("""{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"system","content":"env"},{"role":"user","content":[{"type":"text","text":"c"}]}]}""");

        Assert.Equal(3, messages.Count);
        Assert.Equal(Fill("""{"role":"user","content":[{"type":"text","text":@0},{"type":"text","text":"c"}]}""", Reminder("env")), messages[2]!.ToJsonString(RelaxedJson));
    }

    [Fact]
    public void Normalize_SystemWithoutUserNeighbour_BecomesUserMessage()
    {
        var messages = Messages("""{"messages":[{"role":"assistant","content":"b"},{"role":"system","content":"env","name":"x"},{"role":"assistant","content":"d"}]}""");

        Assert.Equal(3, messages.Count);
        Assert.Equal(Fill("""{"role":"user","content":[{"type":"text","text":@0}]}""", Reminder("env")), messages[1]!.ToJsonString(RelaxedJson));
    }

    [Fact]
    public void Normalize_SystemFirstAndOnly_BecomesUserMessage()
    {
        var messages = Messages("""{"messages":[{"role":"system","content":"env"}]}""");

        Assert.Equal(Fill("""[{"role":"user","content":[{"type":"text","text":@0}]}]""", Reminder("env")), messages.ToJsonString(RelaxedJson));
    }

    [Fact]
    public void Normalize_ConsecutiveSystemMessages_AllJoinPrecedingUserInOrder()
    {
        var messages = Messages("""{"messages":[{"role":"user","content":"a"},{"role":"system","content":"one"},{"role":"system","content":"two"},{"role":"assistant","content":"b"}]}""");

        Assert.Equal(2, messages.Count);
        var content = messages[0]!["content"]!.AsArray();
        Assert.Equal(["a", Reminder("one"), Reminder("two")], content.Select(b => (string)b!["text"]!));
    }

    [Fact]
    public void Normalize_ConsecutiveSystemMessagesBeforeUser_AllPrependedInOrder()
    {
        var messages = Messages("""{"messages":[{"role":"assistant","content":"b"},{"role":"system","content":"one"},{"role":"system","content":"two"},{"role":"user","content":"c"}]}""");

        Assert.Equal(2, messages.Count);
        Assert.Equal([Reminder("one"), Reminder("two"), "c"], messages[1]!["content"]!.AsArray().Select(b => (string)b!["text"]!));
    }

    [Fact]
    public void Normalize_ConsecutiveSystemMessagesWithoutUser_ShareOneConvertedMessage()
    {
        var messages = Messages("""{"messages":[{"role":"assistant","content":"b"},{"role":"system","content":"one"},{"role":"system","content":"two"}]}""");

        Assert.Equal(2, messages.Count);
        Assert.Equal("user", (string)messages[1]!["role"]!);
        Assert.Equal([Reminder("one"), Reminder("two")], messages[1]!["content"]!.AsArray().Select(b => (string)b!["text"]!));
    }

    [Fact]
    public void Normalize_SystemTextPartsWithCacheControl_JoinedWithNewlineSameAsString()
    {
        var array = Ok(Encoding.UTF8.GetBytes("""{"messages":[{"role":"user","content":"a"},{"role":"system","content":[{"type":"text","text":"one"},{"type":"text","text":"two","cache_control":{"type":"ephemeral"}}]}]}"""), ApiRoute.Messages, Replace());
        var text = Ok(Encoding.UTF8.GetBytes("""{"messages":[{"role":"user","content":"a"},{"role":"system","content":"one\ntwo"}]}"""), ApiRoute.Messages, Replace());

        Assert.Equal(text, array);
        Assert.Equal(Reminder("one\ntwo"), (string)JsonNode.Parse(array)!["messages"]![0]!["content"]![1]!["text"]!);
    }

    [Fact]
    public void Normalize_RecordedTurnsStringAndArrayForms_FoldToIdenticalFirstMessage()
    {
        // turn1 sends the Environment message as an array with cache_control, turn2 as a plain string.
        var turn1 = JsonNode.Parse(Ok(Fixtures.RecordedBody("turn1-first"), ApiRoute.Messages, Replace()))!["messages"]!.AsArray();
        var turn2 = JsonNode.Parse(Ok(Fixtures.RecordedBody("turn2-continue"), ApiRoute.Messages, Replace()))!["messages"]!.AsArray();
        var input2 = JsonNode.Parse(Fixtures.RecordedBody("turn2-continue"))!["messages"]!.AsArray();

        Assert.Single(turn1);
        Assert.Equal(3, turn2.Count);
        Assert.Equal(turn1[0]!.ToJsonString(RelaxedJson), turn2[0]!.ToJsonString(RelaxedJson));
        Assert.Equal(Reminder((string)input2[1]!["content"]!), (string)turn1[0]!["content"]!.AsArray()[^1]!["text"]!);
    }

    [Fact]
    public void Normalize_NextTurn_KeepsEarlierMessagesByteIdentical()
    {
        var turn1 = """{"messages":[{"role":"user","content":"a"},{"role":"system","content":"env"}]}""";
        var turn2 = """{"messages":[{"role":"user","content":"a"},{"role":"system","content":"env"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}""";
        var turn3 = """{"messages":[{"role":"user","content":"a"},{"role":"system","content":"env"},{"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"assistant","content":"d"},{"role":"system","content":"later"}]}""";

        var one = Messages(turn1);
        var two = Messages(turn2);
        var three = Messages(turn3);

        Assert.Equal(one.ToJsonString(RelaxedJson).TrimEnd(']'), two.ToJsonString(RelaxedJson)[..(one.ToJsonString(RelaxedJson).Length - 1)]);
        Assert.Equal(two.ToJsonString(RelaxedJson).TrimEnd(']'), three.ToJsonString(RelaxedJson)[..(two.ToJsonString(RelaxedJson).Length - 1)]);
        Assert.Equal("user", (string)three[^1]!["role"]!);
    }

    [Fact]
    public void Normalize_UserWithoutContent_GetsContentArray()
    {
        var messages = Messages("""{"messages":[{"role":"user","x":1},{"role":"system","content":"env"}]}""");

        Assert.Equal(Fill("""[{"role":"user","x":1,"content":[{"type":"text","text":@0}]}]""", Reminder("env")), messages.ToJsonString(RelaxedJson));
    }

    [Fact]
    public void Normalize_UserContentEmptyString_OnlyReminder()
    {
        var messages = Messages("""{"messages":[{"role":"user","content":""},{"role":"system","content":"env"}]}""");

        Assert.Equal(Fill("""[{"role":"user","content":[{"type":"text","text":@0}]}]""", Reminder("env")), messages.ToJsonString(RelaxedJson));
    }

    [Fact]
    public void Normalize_SystemMessageWithImagePart_LeftInPlace()
    {
        var json = """{"messages":[{"role":"user","content":"a"},{"role":"system","content":[{"type":"image","source":{"type":"url","url":"http://x/y.png"}}]}]}""";

        var (outcome, body) = Run(Encoding.UTF8.GetBytes(json), ApiRoute.Messages, Replace());

        Assert.Equal(0, outcome.SystemMessagesFolded);
        Assert.Equal(json, Encoding.UTF8.GetString(body));
    }

    [Fact]
    public void Normalize_FoldingOff_SystemMessagesStay()
    {
        var json = """{"messages":[{"role":"user","content":"a"},{"role":"system","content":"env"}]}""";

        var (outcome, body) = Run(Encoding.UTF8.GetBytes(json), ApiRoute.Messages, Replace(fold: false));

        Assert.Equal(0, outcome.SystemMessagesFolded);
        Assert.Equal(json, Encoding.UTF8.GetString(body));
    }

    [Fact]
    public void Normalize_ChatLeadingSystemMessage_NotFolded()
    {
        var json = """{"messages":[{"role":"system","content":"You are X"},{"role":"user","content":"a"}]}""";

        var (outcome, body) = Run(Encoding.UTF8.GetBytes(json), ApiRoute.ChatCompletions, Replace());

        Assert.Equal(0, outcome.SystemMessagesFolded);
        Assert.Equal(json, Encoding.UTF8.GetString(body));
    }

    [Fact]
    public void Normalize_ChatLaterSystemAndDeveloper_FoldedAsContentParts()
    {
        var messages = Messages(
            """{"messages":[{"role":"system","content":"You are X"},{"role":"user","content":"a"},{"role":"developer","content":[{"type":"text","text":"dev"}]},{"role":"assistant","content":"b"},{"role":"system","content":"late"},{"role":"user","content":"c"}]}""",
            ApiRoute.ChatCompletions);

        Assert.Equal(4, messages.Count);
        Assert.Equal("You are X", (string)messages[0]!["content"]!);
        Assert.Equal(["a", Reminder("dev")], messages[1]!["content"]!.AsArray().Select(b => (string)b!["text"]!));
        Assert.Equal([Reminder("late"), "c"], messages[3]!["content"]!.AsArray().Select(b => (string)b!["text"]!));
    }

    [Fact]
    public void Normalize_AnthropicSystemMessageAtIndexZero_Folded()
    {
        var messages = Messages("""{"messages":[{"role":"system","content":"env"},{"role":"user","content":"a"}]}""");

        Assert.Equal(Fill("""[{"role":"user","content":[{"type":"text","text":@0},{"type":"text","text":"a"}]}]""", Reminder("env")), messages.ToJsonString(RelaxedJson));
    }

    [Fact]
    public void Normalize_CompletionMessagesField_NotTouched()
    {
        var json = """{"prompt":"p","messages":[{"role":"user","content":"a"},{"role":"system","content":"env"}]}""";

        Assert.Equal(json, Encoding.UTF8.GetString(Ok(Encoding.UTF8.GetBytes(json), ApiRoute.Completion, Replace())));
    }

    [Theory]
    [InlineData("""{"content":[{"type":"text","text":"a"}],"role":"user"}""", """{"content":[{"type":"text","text":"a"},{"type":"text","text":@0}],"role":"user"}""")]
    [InlineData("""{"role":"user","content":"a","extra":{"k":[1,2]}}""", """{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":@0}],"extra":{"k":[1,2]}}""")]
    [InlineData("""{"role":"user","content":[]}""", """{"role":"user","content":[{"type":"text","text":@0}]}""")]
    [InlineData("""{"role":"user","content":null}""", """{"role":"user","content":[{"type":"text","text":@0}]}""")]
    [InlineData("""{"role":"user"}""", """{"role":"user","content":[{"type":"text","text":@0}]}""")]
    [InlineData("""{ "role" : "user" , "content" : [ { "type" : "text" , "text" : "a" } ] }""", """{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":@0}]}""")]
    public void Normalize_PrecedingUserMessageShapes_ReminderAppendedToContent(string user, string expected)
    {
        var messages = Messages($$"""{"messages":[{{user}},{"content":"env","role":"system"}]}""");

        Assert.Equal(Fill("[" + expected + "]", Reminder("env")), messages.ToJsonString(RelaxedJson));
    }

    [Theory]
    [InlineData("""{"content":"c","role":"user"}""", """{"content":[{"type":"text","text":@0},{"type":"text","text":"c"}],"role":"user"}""")]
    [InlineData("""{"role":"user","content":null,"x":1}""", """{"role":"user","content":[{"type":"text","text":@0}],"x":1}""")]
    [InlineData("""{"role":"user","x":1}""", """{"role":"user","x":1,"content":[{"type":"text","text":@0}]}""")]
    public void Normalize_FollowingUserMessageShapes_ReminderPrependedToContent(string user, string expected)
    {
        var messages = Messages($$"""{"messages":[{"role":"assistant","content":"b"},{"role":"system","content":"env"},{{user}}]}""");

        Assert.Equal(Fill("""[{"role":"assistant","content":"b"},""" + expected + "]", Reminder("env")), messages.ToJsonString(RelaxedJson));
    }

    [Fact]
    public void Normalize_SeveralUserMessagesThenSystem_AppendedToLastUser()
    {
        var messages = Messages("""{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"system","content":"env"},{"role":"user","content":"c"}]}""");

        Assert.Equal(3, messages.Count);
        Assert.Equal("a", (string)messages[0]!["content"]!);
        Assert.Equal(["b", Reminder("env")], messages[1]!["content"]!.AsArray().Select(b => (string)b!["text"]!));
        Assert.Equal("c", (string)messages[2]!["content"]!);
    }

    [Fact]
    public void Normalize_PrependedUserThenMoreSystem_BothSidesOfSameMessage()
    {
        var messages = Messages("""{"messages":[{"role":"assistant","content":"b"},{"role":"system","content":"one"},{"role":"user","content":"c"},{"role":"system","content":"two"}]}""");

        Assert.Equal(2, messages.Count);
        Assert.Equal([Reminder("one"), "c", Reminder("two")], messages[1]!["content"]!.AsArray().Select(b => (string)b!["text"]!));
    }

    [Fact]
    public void Normalize_ManyMessages_SameAsFoldingEachTurnSeparately()
    {
        // A long conversation with the Environment message early: every earlier turn's output is a prefix.
        var turns = new List<string> { """{"role":"user","content":[{"type":"text","text":"q0"}]}""", """{"role":"system","content":"env"}""" };
        string? previous = null;
        for (var turn = 1; turn < 30; turn++)
        {
            turns.Add("""{"role":"assistant","content":[{"type":"text","text":"a@"},{"type":"tool_use","id":"t@","name":"Read","input":{"n":@}}]}""".Replace("@", turn.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
            turns.Add("""{"role":"user","content":[{"type":"tool_result","tool_use_id":"t@","content":"r@"}]}""".Replace("@", turn.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
            var output = Messages($$"""{"messages":[{{string.Join(",", turns)}}]}""").ToJsonString(RelaxedJson);
            if (previous is not null)
            {
                Assert.StartsWith(previous[..^1], output);
            }

            previous = output;
        }
    }
}
