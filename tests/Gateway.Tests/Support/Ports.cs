using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace LlamaGateway.Tests.Support;

internal static class Ports
{
    private static readonly ConcurrentBag<Socket> Reserved = [];

    /// <summary>
    /// A loopback URL on which nothing listens, for "upstream down" tests. The port stays bound (never listening, so a
    /// connection is refused) for the rest of the test run: a port that was merely free when checked could be handed
    /// to another test's server binding port 0 meanwhile, and the "dead" upstream would answer.
    /// </summary>
    public static string DeadUrl()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Reserved.Add(socket);
        return $"http://127.0.0.1:{((IPEndPoint)socket.LocalEndPoint!).Port}";
    }
}
