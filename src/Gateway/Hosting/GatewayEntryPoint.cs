namespace LlamaGateway.Hosting;

/// <summary>
/// What <c>Program</c> runs: starts the gateway and serves until stopped. A start-up failure the user can fix prints
/// its message (no stack trace) to standard error and exits 1; an unexpected one prints everything, also exit 1.
/// </summary>
internal static class GatewayEntryPoint
{
    public const int StartupFailed = 1;

    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication? app = null;
        try
        {
            app = GatewayApplication.Create(args);
            ListenAddresses.Check(app.Configuration["urls"]);
            await app.StartAsync();
        }
        catch (Exception ex)
        {
            if (app is not null)
            {
                // Flushes the log lines written before the failure.
                await app.DisposeAsync();
            }

            var message = StartupFailure.Describe(ex) ?? "unexpected error:" + Environment.NewLine + ex;
            await Console.Error.WriteLineAsync("llama-gateway could not start: " + message);
            return StartupFailed;
        }

        await using (app)
        {
            await app.WaitForShutdownAsync();
        }

        return 0;
    }
}
