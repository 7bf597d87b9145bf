using System.Net;
using System.Net.Sockets;

namespace LlamaGateway.Tests.Support;

internal static class Ports
{
    /// <summary>A loopback URL on which nothing listens (the port was just free), for "upstream down" tests.</summary>
    public static string DeadUrl()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"http://127.0.0.1:{port}";
    }
}
