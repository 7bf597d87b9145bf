namespace LlamaGateway.Tests.Status;

/// <summary>Finds files of the repository (beside Gateway.sln) from the test's output directory.</summary>
internal static class RepositoryFiles
{
    public static string Path(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Gateway.sln")))
            {
                return System.IO.Path.Combine(dir.FullName, relative);
            }
        }

        throw new FileNotFoundException($"No Gateway.sln above {AppContext.BaseDirectory}");
    }
}
