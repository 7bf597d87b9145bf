namespace LlamaGateway.Browser;

/// <summary>
/// A test that needs Debian's Chromium and ChromeDriver. Without them it is skipped on a developer machine, but in
/// CI (<c>CI=true</c>) it runs and fails with the install command, so a CI machine without a browser is noticed.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ChromiumFactAttribute : FactAttribute
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string DriverPath = "/usr/bin/chromedriver";
    public const string InstallCommand = "apt-get install -y chromium chromium-driver";

    public ChromiumFactAttribute()
    {
        if (!Installed && !InCi)
        {
            Skip = $"Chromium is not installed ({ChromiumPath}, {DriverPath}); install it with: {InstallCommand}";
        }
    }

    public static bool Installed => File.Exists(ChromiumPath) && File.Exists(DriverPath);

    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
}
