using System.Collections.Concurrent;
using System.Diagnostics;
using LlamaGateway.Forwarding;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Reliability;

/// <summary>
/// llama-server closes a keep-alive connection after 5 s idle. A gateway that reuses such a connection just as the
/// server closes it loses the request ("The response ended prematurely"), and cannot retry it. The upstream here
/// plays the worst case of that race deterministically: a request that arrives on a connection idle for
/// <see cref="ServerIdleClose"/> or longer is dropped without an answer, as if the close had crossed it on the wire.
/// </summary>
public sealed class UpstreamKeepAliveTests
{
    /// <summary>Just under llama-server's 5 s: by then its close may already be on its way.</summary>
    private static readonly TimeSpan ServerIdleClose = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task Forwarding_UpstreamClosesIdleKeepAliveConnections_NextRequestOpensNewConnection()
    {
        Assert.True(UpstreamHttpClient.PooledConnectionIdleTimeout + TimeSpan.FromSeconds(1) < ServerIdleClose,
            "The pool (plus its scavenger's period) must drop idle connections before llama-server closes them.");
        var path = StreamPath.TranslatedAnthropic;
        var idleSince = new ConcurrentDictionary<string, long>();
        var connections = new ConcurrentQueue<string>();
        var dropped = 0;
        await using var upstream = await FakeUpstream.StartAsync(async (http, _) =>
        {
            var connection = http.Connection.Id;
            connections.Enqueue(connection);
            if (idleSince.TryGetValue(connection, out var since) && Stopwatch.GetElapsedTime(since) >= ServerIdleClose)
            {
                Interlocked.Increment(ref dropped);
                http.Abort();
                return;
            }

            http.Response.OnCompleted(() =>
            {
                idleSince[connection] = Stopwatch.GetTimestamp();
                return Task.CompletedTask;
            });
            await Traffic.WriteWholeStreamAsync(http, path);
        });
        await using var gateway = await GatewayHost.StartAsync(upstream.BaseUrl, new Dictionary<string, string?> { ["Gateway:Health:FailureThreshold"] = "100" },
            Traffic.UpstreamDialect(path));

        using (var first = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead))
        {
            Traffic.AssertCompleted(await Traffic.ReadStreamAsync(first), path);
        }

        // The idle time is the scenario itself (a request waiting for its slot, a user thinking), not a wait for an event.
        await Task.Delay(ServerIdleClose + TimeSpan.FromMilliseconds(500));
        using (var second = await gateway.Client.SendAsync(Traffic.Request(path), HttpCompletionOption.ResponseHeadersRead))
        {
            Traffic.AssertCompleted(await Traffic.ReadStreamAsync(second), path);
        }

        Assert.Equal(0, dropped);
        Assert.Equal(2, connections.Distinct().Count());
    }
}
