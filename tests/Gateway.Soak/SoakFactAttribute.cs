namespace LlamaGateway.Soak;

/// <summary>A test that runs only when <c>GATEWAY_SOAK=1</c>: it takes a minute and both cores.</summary>
internal sealed class SoakFactAttribute : FactAttribute
{
    public SoakFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("GATEWAY_SOAK") != "1")
        {
            Skip = "soak test: set GATEWAY_SOAK=1 to run it (dotnet test tests/Gateway.Soak -c Release)";
        }

        Timeout = 10 * 60 * 1000;
    }
}
