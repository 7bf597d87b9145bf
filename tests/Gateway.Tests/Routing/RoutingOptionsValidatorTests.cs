using LlamaGateway.Routing;

namespace LlamaGateway.Tests.Routing;

public sealed class RoutingOptionsValidatorTests
{
    [Fact]
    public void Validate_Defaults_Succeeds()
    {
        Assert.True(new RoutingOptionsValidator().Validate(null, new RoutingOptions()).Succeeded);
    }

    [Theory]
    [InlineData(0, null, "Gateway:Routing:LongPrefillSeconds must be positive, got 0")]
    [InlineData(4, 0, "Gateway:Routing:MaxLongPrefillsPerInstance must be at least 1, got 0")]
    public void Validate_BadLongPrefillSettings_NamesTheSetting(double seconds, int? limit, string expected)
    {
        var result = new RoutingOptionsValidator().Validate(null, new RoutingOptions { LongPrefillSeconds = seconds, MaxLongPrefillsPerInstance = limit });

        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
    }
}
