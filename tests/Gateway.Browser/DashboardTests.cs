using OpenQA.Selenium;

namespace LlamaGateway.Browser;

public sealed class DashboardTests(DashboardFixture fixture) : IClassFixture<DashboardFixture>
{
    private const int Width = 1440;

    private static IReadOnlyList<string> Texts(IWebDriver driver, string css) => driver.FindElements(By.CssSelector(css)).Select(e => e.Text).ToList();

    private static void SignIn(Browser browser, string key)
    {
        var input = browser.WaitFor(d => d.FindElement(By.Id("key")) is { Displayed: true } e ? e : null, "the sign-in form");
        input.SendKeys(key);
        browser.Driver.FindElement(By.CssSelector("#login button[type=submit]")).Click();
    }

    [ChromiumFact]
    public void StatusPage_AdminSignsIn_ShowsInstancesSlotsUsersAndChart()
    {
        using var browser = new Browser(Width);
        browser.Driver.Navigate().GoToUrl(fixture.BaseUrl + "/status");

        SignIn(browser, TeamTraffic.AdminKey);

        var driver = browser.Driver;
        browser.WaitUntil(d => d.FindElement(By.Id("main")).Displayed, "the dashboard");
        Assert.Equal(["gpu-1", "gpu-2"], Texts(driver, "#instances .instance .name"));
        Assert.Equal(10, driver.FindElements(By.CssSelector("#instances .slot")).Count);
        Assert.Equal(2, driver.FindElements(By.CssSelector("#instances .slot.busy")).Count);
        Assert.NotEmpty(driver.FindElements(By.CssSelector("#instances .slot.side")));
        Assert.Equal(["alice", "bob", "carol"], Texts(driver, "#users tbody tr td:first-child"));
        Assert.Equal("keys required", driver.FindElement(By.Id("mode")).Text.ToLowerInvariant());
        Assert.Equal("admin view", driver.FindElement(By.Id("viewer")).Text.ToLowerInvariant());
        var errors = Texts(driver, "#errors tbody tr");
        Assert.Contains(errors, row => row.Contains("carol", StringComparison.Ordinal) && row.Contains("500", StringComparison.Ordinal));

        // The chart: bars of re-computed tokens and/or a hit-ratio line, one per sampled interval.
        var bars = driver.FindElements(By.CssSelector("#chart rect")).Count;
        var line = driver.FindElements(By.CssSelector("#chart path")).Count;
        var axis = Texts(driver, "#chart text");
        Assert.True(bars + line > 0 || axis.Count > 0, "the chart is empty");
        Assert.Contains("100%", axis);

        // The key never appears in the page's address or markup.
        Assert.DoesNotContain(TeamTraffic.AdminKey, driver.Url);
        Assert.DoesNotContain(TeamTraffic.AdminKey, driver.PageSource);

        // Every run leaves a screenshot in artifacts/; the README's copy in docs/ is refreshed only on request, so a
        // test run leaves the working tree clean.
        var artifacts = Path.Combine(RepositoryFiles.Root, "artifacts", "browser");
        Directory.CreateDirectory(artifacts);
        browser.SaveFullPageScreenshot(Path.Combine(artifacts, "status.png"), Width);
        if (Environment.GetEnvironmentVariable("UPDATE_SCREENSHOTS") == "1")
        {
            browser.SaveFullPageScreenshot(Path.Combine(RepositoryFiles.Root, "docs", "status.png"), Width);
        }
    }

    [ChromiumFact]
    public void StatusPage_UserKeyInFragment_ShowsOwnRowsOnly()
    {
        using var browser = new Browser(Width);
        browser.Driver.Navigate().GoToUrl(fixture.BaseUrl + "/status#key=" + TeamTraffic.CarolKey);

        var driver = browser.Driver;
        browser.WaitUntil(d => d.FindElement(By.Id("main")).Displayed, "the dashboard");
        Assert.Equal(["carol"], Texts(driver, "#users tbody tr td:first-child"));
        Assert.Equal("signed in as carol", driver.FindElement(By.Id("viewer")).Text.ToLowerInvariant());
        Assert.DoesNotContain("alice", driver.FindElement(By.Id("users")).Text);
        Assert.Equal(10, driver.FindElements(By.CssSelector("#instances .slot")).Count);

        // The fragment is dropped from the address bar once the key is stored.
        Assert.DoesNotContain("key=", driver.Url);
    }

    [ChromiumFact]
    public void StatusPage_WrongKey_StaysOnSignInWithMessage()
    {
        using var browser = new Browser(Width);
        browser.Driver.Navigate().GoToUrl(fixture.BaseUrl + "/status");

        SignIn(browser, "sk-not-a-key-000000");

        var error = browser.WaitFor(d => d.FindElement(By.Id("login-error")) is { Displayed: true } e ? e : null, "the sign-in error");
        Assert.Contains("not accepted", error.Text);
        Assert.False(browser.Driver.FindElement(By.Id("main")).Displayed);
    }
}
