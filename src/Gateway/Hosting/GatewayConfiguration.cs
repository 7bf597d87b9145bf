namespace LlamaGateway.Hosting;

internal static class GatewayConfiguration
{
    /// <summary>
    /// Finds the gateway's <c>appsettings.json</c>: the working directory's, else the repository root's (the file
    /// beside <c>Gateway.sln</c>), so <c>dotnet run --project src/Gateway</c> from a fresh clone reads the root config.
    /// <c>GATEWAY_CONFIG</c> names another file.
    /// </summary>
    public static string? Locate(string workingDirectory, string baseDirectory)
    {
        var explicitPath = Environment.GetEnvironmentVariable("GATEWAY_CONFIG");
        if (!string.IsNullOrEmpty(explicitPath))
        {
            return Path.GetFullPath(explicitPath);
        }

        if (File.Exists(Path.Combine(workingDirectory, "appsettings.json")))
        {
            return Path.Combine(workingDirectory, "appsettings.json");
        }

        for (var dir = new DirectoryInfo(baseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.sln")) && File.Exists(Path.Combine(dir.FullName, "appsettings.json")))
            {
                return Path.Combine(dir.FullName, "appsettings.json");
            }
        }

        return null;
    }

    /// <summary>
    /// Adds the located file (or <paramref name="path"/>) ahead of environment variables and the command line. The file
    /// is watched: edits apply while running, and an edit that cannot be read or parsed (or a deleted file) keeps the last
    /// good values.
    /// </summary>
    public static WebApplicationBuilder AddGatewayConfiguration(this WebApplicationBuilder builder, string[] args, string? path = null)
    {
        path ??= Locate(Directory.GetCurrentDirectory(), AppContext.BaseDirectory);
        if (path is not null)
        {
            var sources = builder.Configuration.Sources;
            sources.Clear();
            var file = new ReloadTolerantJsonConfigurationSource { Path = Path.GetFullPath(path), Optional = false, WatchForChanges = true };
            file.ResolveFileProvider();
            try
            {
                // The first load happens here; a missing, unreadable or unparsable file stops start-up.
                ((IConfigurationBuilder)builder.Configuration).Add(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or FormatException)
            {
                var reason = ReloadTolerantJsonConfigurationSource.Provider.Reason(ex is InvalidDataException { InnerException: { } inner } ? inner : ex);
                throw new GatewayStartupException($"The configuration file {Path.GetFullPath(path)} could not be read: {reason}", ex);
            }
            builder.Configuration.AddEnvironmentVariables("ASPNETCORE_");
            builder.Configuration.AddEnvironmentVariables();
            builder.Configuration.AddCommandLine(args);
        }

        return builder;
    }
}
