using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using LlamaGateway.Tests.Support;
using Microsoft.AspNetCore.Http;
using Xunit.Abstractions;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// Randomized hostile bodies on the OpenAI pass-through routes (and, for comparison, /v1/messages), through the real
/// gateway in front of a fake upstream: valid bodies with owned fields set to hostile values in hostile spellings
/// (escaped names, every numeric form, wrong types), wrong-typed known fields, non-finite numbers, duplicates, several
/// prompts, cut and corrupted bytes. Each answer must be a 200 or a 4xx in the caller's dialect, never a 5xx or a
/// hang, a 4xx must forward nothing, and whatever was forwarded must carry the gateway's own values of every field it
/// owns (docs/fields.md). One fixed seed and one fresh seed per run; a failure names the seed and the case, and
/// <c>HOSTILE_FUZZ_SEED</c> replays it.
/// </summary>
public sealed class HostileFieldFuzzTests(ITestOutputHelper output)
{
    private const int FixedSeed = 27_003;
    private const int CasesPerRoute = 250;
    private const int Cap = 64;
    private const int Slots = 4;

    private static readonly string[] OwnedNames =
    [
        "id_slot", "cache_prompt", "n", "n_cmpl", "n_predict", "max_tokens", "max_completion_tokens", "n_probs", "top_logprobs",
        "logprobs", "lora", "return_progress", "response_fields", "backend_sampling",
    ];

    private static readonly string[] PassedNames =
    [
        "temperature", "top_k", "top_p", "stream", "stop", "tools", "tool_choice", "seed", "n_keep", "n_indent", "t_max_predict_ms",
        "samplers", "logit_bias", "json_schema", "grammar", "reasoning_format", "stream_options", "adaptive_decay", "model", "messages", "prompt",
    ];

    private static readonly string[] Values =
    [
        "1", "4", "0", "-1", "2", "1.0", "1.5", "1e0", "1e9", "1E+9", "-1e9", "1000.0", "99999999999999999999", "1e308", "1e999",
        "-1e999", "2e308", "\"4\"", "\"x\"", "\"\"", "true", "false", "null", "[]", "[1]", "[\"a\",\"b\"]", "[[1],[2]]",
        "[{\"id\":0,\"scale\":1}]", "{}", "{\"a\":1}", new string('9', 400), "0.5", "-0", "128000", "20", "21",
    ];

    private static readonly string[] Changed = ["1e9", "-1", "1000.0", "128000", "null", "21", "1", "1e0", "99999999999999999999", "1E+30"];

    public static TheoryData<string, int> FixedCases() => new()
    {
        { "/v1/chat/completions", FixedSeed },
        { "/completion", FixedSeed },
        { "/v1/messages", FixedSeed },
    };

    [Theory]
    [MemberData(nameof(FixedCases))]
    public Task RandomHostileFields_FixedSeed_Never5xxNorUnownedUpstream(string path, int seed) => RunAsync(path, seed);

    [Theory]
    [InlineData("/v1/chat/completions")]
    [InlineData("/completion")]
    public Task RandomHostileFields_FreshSeed_Never5xxNorUnownedUpstream(string path)
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("HOSTILE_FUZZ_SEED"), out var fixedSeed) ? fixedSeed : Random.Shared.Next();
        output.WriteLine($"seed {seed} (replay with HOSTILE_FUZZ_SEED={seed})");
        return RunAsync(path, seed);
    }

    private async Task RunAsync(string path, int seed)
    {
        await using var upstream = await FakeUpstream.StartAsync(AnswerAsync);
        upstream.TotalSlots = Slots;
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?>
        {
            ["Gateway:Upstreams:0:MaxOutputTokens"] = Cap.ToString(CultureInfo.InvariantCulture),
            ["Gateway:Upstreams:0:Slots"] = Slots.ToString(CultureInfo.InvariantCulture),
        });
        var random = new Random(seed);
        var outcomes = new Dictionary<int, int>();
        for (var i = 0; i < CasesPerRoute; i++)
        {
            var (body, description) = Generate(random, path);
            try
            {
                var status = await CheckOneAsync(gateway, upstream, path, body);
                outcomes[status] = outcomes.GetValueOrDefault(status) + 1;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                throw new Xunit.Sdk.XunitException($"{path}, seed {seed}, case {i} ({description}; replay with HOSTILE_FUZZ_SEED={seed}): {ex.Message}\n{Preview(body)}", ex);
            }
        }

        output.WriteLine($"{path}: " + string.Join(", ", outcomes.OrderBy(o => o.Key).Select(o => $"HTTP {o.Key}: {o.Value}")));

        // The generator must reach both sides: bodies the gateway owns and forwards, and bodies it refuses.
        Assert.True(outcomes.GetValueOrDefault(200) > CasesPerRoute / 10, "too few hostile bodies were forwarded");
        Assert.True(outcomes.GetValueOrDefault(400) > CasesPerRoute / 5, "too few hostile bodies were refused");
        await Leaks.AssertNoneAsync(gateway);
    }

    private static async Task<int> CheckOneAsync(GatewayHost gateway, FakeUpstream upstream, string path, byte[] body)
    {
        var before = upstream.Requests.Count;
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var response = await gateway.Client.SendAsync(request, timeout.Token);
        var text = await response.Content.ReadAsStringAsync(timeout.Token);
        var status = (int)response.StatusCode;
        var forwarded = upstream.Requests.Skip(before).ToList();
        if (status == 200)
        {
            var sent = Assert.Single(forwarded);
            if (path != "/v1/messages")
            {
                AssertOwned(sent.Body, path);
            }
            else
            {
                AssertTranslatedOwned(sent.Body);
            }

            return status;
        }

        Assert.True(status is >= 400 and < 500, $"HTTP {status}: {Preview(Encoding.UTF8.GetBytes(text))}");
        Assert.Empty(forwarded);
        using var json = JsonDocument.Parse(text);
        var error = json.RootElement.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        if (path == "/v1/messages")
        {
            Assert.Equal("error", json.RootElement.GetProperty("type").GetString());
        }
        else
        {
            Assert.True(error.TryGetProperty("code", out _), "not in OpenAI's format");
        }

        return status;
    }

    /// <summary>What llama-server reads from a forwarded pass-through body: every field the gateway owns is the gateway's.</summary>
    private static void AssertOwned(byte[] body, string path)
    {
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        var names = root.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
        Assert.InRange(root.GetProperty("id_slot").GetInt32(), 0, Slots - 1);
        Assert.Equal(JsonValueKind.True, root.GetProperty("cache_prompt").ValueKind);
        var limit = path == "/completion" ? "n_predict" : "max_tokens";
        Assert.InRange(root.GetProperty(limit).GetInt32(), 0, Cap);
        foreach (var gone in new[] { "n", "n_cmpl", "lora", "return_progress", "response_fields", "backend_sampling" }.Concat(new[] { "n_predict", "max_tokens", "max_completion_tokens" }.Where(l => l != limit)))
        {
            Assert.False(root.TryGetProperty(gone, out _), $"{gone} reached the upstream");
        }

        foreach (var probs in new[] { "n_probs", "top_logprobs", "logprobs" })
        {
            if (root.TryGetProperty(probs, out var value) && value.ValueKind == JsonValueKind.Number)
            {
                Assert.True(value.GetDouble() <= 20, $"{probs} {value.GetRawText()} reached the upstream");
            }
        }

        if (path == "/completion" && root.GetProperty("prompt") is { ValueKind: JsonValueKind.Array } prompt)
        {
            Assert.True(prompt.GetArrayLength() <= 1 || prompt.EnumerateArray().Any(e => e.ValueKind == JsonValueKind.Number), "several prompts reached the upstream");
        }

        AssertFiniteNumbers(root);
    }

    private static void AssertTranslatedOwned(byte[] body)
    {
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        Assert.InRange(root.GetProperty("max_tokens").GetInt32(), 1, Cap);
        Assert.False(root.TryGetProperty("n", out _));
        Assert.Equal(JsonValueKind.True, root.GetProperty("cache_prompt").ValueKind);
        AssertFiniteNumbers(root);
    }

    private static void AssertFiniteNumbers(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Number:
                Assert.True(double.TryParse(element.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value), $"{element.GetRawText()} reached the upstream");
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    AssertFiniteNumbers(property.Value);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    AssertFiniteNumbers(item);
                }

                break;
        }
    }

    /// <summary>A valid body of the route with a few hostile members, sometimes with its bytes damaged too.</summary>
    private static (byte[] Body, string Description) Generate(Random random, string path)
    {
        var members = new List<string>();
        var description = new List<string>();
        if (path == "/completion")
        {
            members.Add("\"prompt\":\"Hello there\"");
        }
        else
        {
            members.Add("\"model\":\"m\"");
            members.Add("\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]");
            if (path == "/v1/messages")
            {
                members.Add("\"max_tokens\":16");
            }
        }

        var count = random.Next(1, 5);
        for (var i = 0; i < count; i++)
        {
            var pick = random.Next(10);
            string name;
            string value;
            if (pick < 6)
            {
                // Half of them values the gateway owns by changing them (so the body is forwarded and checked).
                name = OwnedNames[random.Next(OwnedNames.Length)];
                value = random.Next(2) == 0 ? Changed[random.Next(Changed.Length)] : Values[random.Next(Values.Length)];
            }
            else if (pick < 9)
            {
                name = PassedNames[random.Next(PassedNames.Length)];
                value = Values[random.Next(Values.Length)];
            }
            else
            {
                name = "x-" + random.Next(1000).ToString(CultureInfo.InvariantCulture);
                value = random.Next(3) switch
                {
                    0 => Values[random.Next(Values.Length)],
                    1 => "{\"deep\":[" + Values[random.Next(Values.Length)] + "]}",
                    _ => JsonSerializer.Serialize(new string('z', random.Next(0, 5000))),
                };
            }

            var spelled = random.Next(4) == 0 ? Escape(name, random) : name;
            var member = $"\"{spelled}\":{value}";
            if (random.Next(2) == 0 || members.Count == 0)
            {
                members.Add(member);
            }
            else
            {
                // Replacing a required member (or duplicating it) must be handled too.
                members.Insert(random.Next(members.Count + 1), member);
            }

            description.Add(member.Length > 60 ? member[..60] + "..." : member);
        }

        var bytes = Encoding.UTF8.GetBytes("{" + string.Join(",", members) + "}");
        switch (random.Next(12))
        {
            case 0:
                bytes = bytes[..random.Next(bytes.Length)];
                description.Add("cut");
                break;
            case 1:
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                description.Add("a byte replaced");
                break;
        }

        return (bytes, string.Join(" ", description));
    }

    /// <summary>Some characters of <paramref name="name"/> as \uXXXX escapes (JSON decodes them to the same name).</summary>
    private static string Escape(string name, Random random)
    {
        var text = new StringBuilder();
        foreach (var c in name)
        {
            text.Append(random.Next(2) == 0 ? ((int)c).ToString("x4", CultureInfo.InvariantCulture).Insert(0, "\\u") : c.ToString());
        }

        return text.ToString();
    }

    /// <summary>The fake llama-server: a stream when asked for one, else a JSON completion.</summary>
    private static Task AnswerAsync(HttpContext http, RecordedRequest recorded)
    {
        var stream = false;
        try
        {
            using var json = JsonDocument.Parse(recorded.Body);
            stream = json.RootElement.TryGetProperty("stream", out var value) && value.ValueKind == JsonValueKind.True;
        }
        catch (JsonException)
        {
            // Asserted on by the test; the answer does not matter.
        }

        return stream ? Traffic.WriteWholeStreamAsync(http, StreamPath.OpenAiPassThrough) : Traffic.WriteJsonAsync(http, StreamPath.OpenAiPassThrough);
    }

    private static string Preview(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body);
        return text.Length <= 400 ? text : text[..400] + "...";
    }
}
