using LlamaGateway.Hosting;
using LlamaGateway.Tests.Auth;
using Microsoft.Extensions.Logging;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Hosting;

/// <summary>
/// Kestrel logs a malformed request's bad line, header lines included, at Debug, and puts the line into the error's
/// message whenever its logging is on at Information. Whatever levels the configuration asks for, no key may reach
/// a log that way.
/// </summary>
public sealed class KestrelLogPinTests
{
    public static TheoryData<string, string> Configurations => new()
    {
        { "Logging:LogLevel:Default", "Trace" },
        { "Logging:LogLevel:Microsoft.AspNetCore.Server.Kestrel", "Trace" },
        { "Logging:LogLevel:Microsoft.AspNetCore.Server.Kestrel.BadRequests", "Trace" },
        { "Logging:LlamaGateway.Tests.Support.TestLogSink:LogLevel:Microsoft.AspNetCore.Server.Kestrel.BadRequests", "Debug" },
        { "Logging:LlamaGateway.Tests.Support.TestLogSink:LogLevel:Default", "Trace" },
    };

    public static TheoryData<string> MalformedLines => new()
    {
        $"x-api-key {TeamGateway.AliceKey}",
        $"x-api-key : {TeamGateway.AliceKey}",
        $"Authorization: Bearer {TeamGateway.AliceKey}\rx",
        $"x-api-key: {TeamGateway.AliceKey}\0",
        $" x-api-key: {TeamGateway.AliceKey}",
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public async Task MalformedHeaderLine_LoggingAtTrace_KeyNeverLogged(string key, string level)
    {
        await using var upstream = await FakeUpstream.StartAsync(TeamGateway.AnswerAsync);
        await using var gateway = await TeamGateway.StartAsync(upstream, new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Trace",
            [key] = level,
            ["Serilog:MinimumLevel:Default"] = "Verbose",
            ["Serilog:MinimumLevel:Override:Microsoft"] = "Verbose",
        });

        foreach (var line in MalformedLines)
        {
            var response = await RawHttp.SendAsync(gateway.BaseUrl, "POST", "/v1/messages", ["anthropic-version: 2023-06-01", line], TeamGateway.MessagesBody);
            Assert.True(response.Status == 400, $"{line.Replace(TeamGateway.AliceKey, "KEY", StringComparison.Ordinal)}: {response.Status}");
            Assert.DoesNotContain(TeamGateway.AliceKey, response.Body, StringComparison.Ordinal);
        }

        // And the request line itself, with a key where a client might have put one.
        var requestLine = await RawHttp.SendAsync(gateway.BaseUrl, "POST", $"/v1/messages?key={TeamGateway.AliceKey} HTTP/1.1 x", [], TeamGateway.MessagesBody);
        Assert.Equal(400, requestLine.Status);

        // Kestrel logs a bad request before it answers it; the gateway itself logged at Trace meanwhile (so the
        // configured levels did take effect), only without Kestrel's request lines.
        Assert.Empty(upstream.Requests);
        Assert.Contains(gateway.Logs.Lines, l => l.StartsWith("Trace ", StringComparison.Ordinal) || l.StartsWith("Debug ", StringComparison.Ordinal));
        Assert.DoesNotContain(TeamGateway.AliceKey, gateway.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain(gateway.Logs.Lines, l => l.Contains("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal) && !(l.StartsWith("Warning", StringComparison.Ordinal) || l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Critical", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(null, "Microsoft.AspNetCore.Server.Kestrel.BadRequest*")]
    [InlineData(null, "Microsoft.AspNetCore.Server.*.BadRequests")]
    [InlineData(null, "*Kestrel.BadRequests.And.Then.Something.Long")]
    [InlineData("LlamaGateway.Tests.Support.TestLogSink", "Microsoft")]
    [InlineData("LlamaGateway.Tests.Support.TestLogSink", "Microsoft.AspNetCore.Server.Kestrel.BadRequests")]
    [InlineData(null, null)]
    public void Apply_AnyRuleAtTrace_KestrelStaysAtWarningAndOthersKeepTheirLevel(string? provider, string? category)
    {
        var options = new LoggerFilterOptions { MinLevel = LogLevel.Trace };
        options.Rules.Add(new LoggerFilterRule(provider, category, LogLevel.Trace, filter: null));
        KestrelLogPin.Apply(options);
        using var sink = new TestLogSink();
        using var factory = new LoggerFactory([sink], new StaticOptionsMonitor<LoggerFilterOptions>(options));

        foreach (var kestrel in new[] { "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Server.Kestrel.BadRequests", "Microsoft.AspNetCore.Server.Kestrel.Http2", "microsoft.aspnetcore.server.kestrel.connections" })
        {
            Assert.False(factory.CreateLogger(kestrel).IsEnabled(LogLevel.Information), kestrel);
            Assert.True(factory.CreateLogger(kestrel).IsEnabled(LogLevel.Warning), kestrel);
        }

        Assert.True(factory.CreateLogger("LlamaGateway.Pipeline.ModelRequestHandler").IsEnabled(LogLevel.Trace));
    }
}
