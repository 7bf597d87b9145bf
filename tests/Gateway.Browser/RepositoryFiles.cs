namespace LlamaGateway.Browser;

/// <summary>The repository root (where Gateway.sln is), found from the test's output directory.</summary>
internal static class RepositoryFiles
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.sln")))
            {
                return dir.FullName;
            }
        }

        throw new FileNotFoundException($"No Gateway.sln above {AppContext.BaseDirectory}");
    }
}
