using Microsoft.AspNetCore.Http;

namespace LlamaGateway.Hosting;

/// <summary>
/// Checks the listen addresses (<c>--urls</c>, <c>ASPNETCORE_URLS</c>) before Kestrel binds them: Kestrel reports a bad
/// one as "Invalid url" or an out-of-range port argument from deep inside its binder, and reads a port that is not a
/// number as part of the host name, which makes it listen on port 80 of every interface.
/// </summary>
internal static class ListenAddresses
{
    private const string Example = "e.g. --urls http://127.0.0.1:8090 (several separated by ';')";

    /// <summary>Throws <see cref="GatewayStartupException"/> naming the first invalid address in <paramref name="urls"/>.</summary>
    public static void Check(string? urls)
    {
        if (string.IsNullOrWhiteSpace(urls))
        {
            return;
        }

        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            BindingAddress address;
            try
            {
                address = BindingAddress.Parse(url);
            }
            catch (FormatException)
            {
                throw new GatewayStartupException($"The listen address \"{url}\" (--urls) is not a URL: use http://host:port or https://host:port, {Example}.");
            }

            if (!string.Equals(address.Scheme, "http", StringComparison.OrdinalIgnoreCase) && !string.Equals(address.Scheme, "https", StringComparison.OrdinalIgnoreCase))
            {
                throw new GatewayStartupException($"The listen address \"{url}\" (--urls) must start with http:// or https://, {Example}.");
            }

            if (address.IsUnixPipe || address.IsNamedPipe)
            {
                continue;
            }

            if (address.Host is not ("*" or "+") && Uri.CheckHostName(address.Host) == UriHostNameType.Unknown)
            {
                throw new GatewayStartupException($"The listen address \"{url}\" (--urls) has no valid host and port (read as host \"{address.Host}\"), {Example}.");
            }

            if (address.Port is < 0 or > 65535)
            {
                throw new GatewayStartupException($"The listen address \"{url}\" (--urls) has port {address.Port}; a port is between 0 and 65535, {Example}.");
            }

            if (address.Port == 0 && string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                throw new GatewayStartupException($"The listen address \"{url}\" (--urls) asks for any free port on localhost, which Kestrel cannot do: use http://127.0.0.1:0 or http://[::1]:0.");
            }
        }
    }
}
