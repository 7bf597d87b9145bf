using System.Net;
using System.Net.Sockets;

namespace LlamaGateway.EndToEnd.Support;

internal static class FreePort
{
    /// <summary>A loopback port that was free a moment ago (callers retry if someone takes it first).</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
