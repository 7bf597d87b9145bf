namespace LlamaGateway.Browser;

/// <summary>
/// A test that needs Debian's Chromium and ChromeDriver. Without them it is skipped on a developer machine, but in
/// CI (<c>CI=true</c>) it runs and fails with the install command, so a CI machine without a browser is noticed.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ChromiumFactAttribute : FactAttribute
{
    public const string InstallCommand = "apt-get install -y chromium chromium-driver";

    /// <summary>Debian's Chromium; <c>GATEWAY_CHROMIUM</c> names another build (e.g. /usr/bin/chromium-browser).</summary>
    public static string ChromiumPath { get; } = Environment.GetEnvironmentVariable("GATEWAY_CHROMIUM") ?? "/usr/bin/chromium";

    /// <summary>Debian's ChromeDriver (same version as the browser); <c>GATEWAY_CHROMEDRIVER</c> names another.</summary>
    public static string DriverPath { get; } = Environment.GetEnvironmentVariable("GATEWAY_CHROMEDRIVER") ?? "/usr/bin/chromedriver";

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
