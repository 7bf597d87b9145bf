using System.Drawing;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace LlamaGateway.Browser;

/// <summary>Headless Debian Chromium through ChromeDriver, with a fresh profile and nothing that reaches the network.</summary>
internal sealed class Browser : IDisposable
{
    private readonly string _profile = Path.Combine(Path.GetTempPath(), $"gateway-chromium-{Guid.NewGuid():N}");

    public Browser(int width = 1440, int height = 1000)
    {
        if (!ChromiumFactAttribute.Installed)
        {
            throw new InvalidOperationException(
                $"Chromium is required for the dashboard tests but {ChromiumFactAttribute.ChromiumPath} or {ChromiumFactAttribute.DriverPath} is missing. " +
                $"Install it (as root): apt-get update && {ChromiumFactAttribute.InstallCommand}");
        }

        var options = new ChromeOptions { BinaryLocation = ChromiumFactAttribute.ChromiumPath };
        options.AddArguments(
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
            $"--user-data-dir={_profile}", $"--window-size={width},{height}");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromiumFactAttribute.DriverPath)!, Path.GetFileName(ChromiumFactAttribute.DriverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        Driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    public ChromeDriver Driver { get; }

    /// <summary>Waits (polling, bounded) until <paramref name="condition"/> returns an element.</summary>
    public IWebElement WaitFor(Func<IWebDriver, IWebElement?> condition, string what, double seconds = 15) =>
        Wait(what, seconds).Until(driver => condition(driver))!;

    /// <summary>Waits (polling, bounded) until <paramref name="condition"/> holds.</summary>
    public void WaitUntil(Func<IWebDriver, bool> condition, string what, double seconds = 15) =>
        Wait(what, seconds).Until(condition);

    private WebDriverWait Wait(string what, double seconds)
    {
        var wait = new WebDriverWait(Driver, TimeSpan.FromSeconds(seconds)) { Message = $"waiting for {what}" };
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        return wait;
    }

    /// <summary>Resizes the viewport to the whole page and saves a PNG of it.</summary>
    public void SaveFullPageScreenshot(string path, int width)
    {
        var js = (IJavaScriptExecutor)Driver;
        var height = Convert.ToInt32(js.ExecuteScript("return Math.ceil(document.documentElement.scrollHeight);"), System.Globalization.CultureInfo.InvariantCulture);
        var chrome = Convert.ToInt32(js.ExecuteScript("return window.outerHeight - window.innerHeight;"), System.Globalization.CultureInfo.InvariantCulture);
        Driver.Manage().Window.Size = new Size(width, height + chrome);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Driver.GetScreenshot().SaveAsFile(path);
    }

    public void Dispose()
    {
        Driver.Quit();
        Driver.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // Chromium may still hold a lock file for a moment; the temp folder is cleaned eventually.
        }
    }
}
