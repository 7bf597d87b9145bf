using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaGateway.EndToEnd.Support;
using LlamaGateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlamaGateway.EndToEnd;

/// <summary>
/// The real Claude Code CLI through the real gateway to an OpenAI-dialect upstream that answers with a tool call:
/// a random-weight model never calls a tool, so this upstream is scripted, in llama-server's exact stream shape.
/// Proves the translated tool_use stream drives the CLI's tool loop and its tool_result comes back as a tool message.
/// </summary>
[Trait("Category", "e2e")]
public sealed class ClaudeCodeToolUseTests(ITestOutputHelper output)
{
    private const string ToolCallId = "Zq8Lr2Vx0Tn4Yc6Ua1Sb3Md5Ke7Jf9Hg";

    [Fact]
    public async Task ClaudeCode_UpstreamReturnsToolCall_CliRunsToolAndSendsResultBack()
    {
        var artifacts = Toolchain.ArtifactsFor(nameof(ClaudeCode_UpstreamReturnsToolCall_CliRunsToolAndSendsResultBack));
        using var cli = await ClaudeCli.CreateAsync(artifacts);
        var notes = Path.Combine(cli.ProjectDirectory, "notes.txt");
        await File.WriteAllTextAsync(notes, "the secret number is 4242\n");
        var requests = new ConcurrentQueue<JsonNode>();
        await using var upstream = await StartScriptedUpstreamAsync(requests, notes);
        await using var gateway = GatewayApplication.Create(["--urls", "http://127.0.0.1:0"], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:Name"] = "scripted",
            ["Gateway:Upstreams:0:BaseUrl"] = Address(upstream),
            ["Gateway:Upstreams:0:Slots"] = "4",
            ["Serilog:MinimumLevel:Default"] = "Warning",
        }), useConfigFile: false);
        await gateway.StartAsync();

        var run = await cli.PromptAsync(Address(gateway), "Read notes.txt and tell me the secret number.");
        output.WriteLine(run.Describe());

        Assert.True(run.Succeeded, run.Describe());
        Assert.Contains("4242", run.Result!.Text);
        var main = requests.Where(r => r["tools"] is JsonArray { Count: > 0 }).ToList();
        Assert.True(main.Count >= 2, $"expected the tool round trip to reach the upstream twice, saw {main.Count} main requests");
        var followUp = main.Last()["messages"]!.AsArray();
        var call = followUp.Single(m => m!["role"]!.GetValue<string>() == "assistant" && m["tool_calls"] is JsonArray)!["tool_calls"]![0]!;
        Assert.Equal(ToolCallId, call["id"]!.GetValue<string>());
        Assert.Equal("Read", call["function"]!["name"]!.GetValue<string>());
        Assert.Equal(notes, JsonNode.Parse(call["function"]!["arguments"]!.GetValue<string>())!["file_path"]!.GetValue<string>());
        var result = followUp.Single(m => m!["role"]!.GetValue<string>() == "tool")!;
        Assert.Equal(ToolCallId, result["tool_call_id"]!.GetValue<string>());
        Assert.Contains("the secret number is 4242", result["content"]!.GetValue<string>());
        Assert.All(main, r => Assert.NotNull(r["id_slot"]));
    }

    private static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();

    private static async Task<WebApplication> StartScriptedUpstreamAsync(ConcurrentQueue<JsonNode> requests, string notesPath)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapGet("/health", () => Results.Json(new { status = "ok" }));
        app.MapGet("/props", () => Results.Json(new { total_slots = 4, model_path = "/models/scripted.gguf" }));
        app.MapPost("/v1/messages/count_tokens", () => Results.Json(new { input_tokens = 100 }));
        app.MapPost("/v1/chat/completions", async (HttpContext http) =>
        {
            var body = (await JsonNode.ParseAsync(http.Request.Body))!;
            requests.Enqueue(body);
            var messages = body["messages"]!.AsArray();
            var afterTool = messages[^1]!["role"]!.GetValue<string>() == "tool";
            var wantsTool = body["tools"] is JsonArray { Count: > 0 } && !afterTool;
            http.Response.ContentType = "text/event-stream";
            await Chunk(http, """{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}""");
            if (wantsTool)
            {
                // Arguments arrive in fragments, the first carrying id and name, as llama-server streams them.
                var arguments = JsonSerializer.Serialize(new { file_path = notesPath });
                var split = arguments.Length / 2;
                await Chunk(http, $$$"""{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"{{{ToolCallId}}}","type":"function","function":{"name":"Read","arguments":{{{JsonSerializer.Serialize(arguments[..split])}}}}}]}}]}""");
                await Chunk(http, $$$"""{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":{{{JsonSerializer.Serialize(arguments[split..])}}}}}]}}]}""");
                await Chunk(http, """{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}""");
            }
            else
            {
                var text = afterTool ? "The secret number is 4242." : "OK.";
                await Chunk(http, $$$"""{"choices":[{"index":0,"delta":{"content":{{{JsonSerializer.Serialize(text)}}}}}]}""");
                await Chunk(http, """{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""");
            }

            await Chunk(http, """{"choices":[],"usage":{"prompt_tokens":120,"completion_tokens":12,"total_tokens":132,"prompt_tokens_details":{"cached_tokens":100}},"timings":{"cache_n":100,"prompt_n":20,"prompt_ms":5.0,"predicted_n":12,"predicted_ms":3.0}}""");
            await Chunk(http, "[DONE]");
        });
        await app.StartAsync();
        return app;
    }

    private static async Task Chunk(HttpContext http, string data)
    {
        await http.Response.WriteAsync("data: " + data + "\n\n", Encoding.UTF8, http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }
}
