namespace LlamaGateway.Tests.Support;

public sealed class FixturesTests
{
    [Fact]
    public void RecordedBody_EveryFixture_IsAMessagesRequestWithBillingLine()
    {
        Assert.NotEmpty(Fixtures.RecordedRequestNames);
        foreach (var name in Fixtures.RecordedRequestNames)
        {
            var text = System.Text.Encoding.UTF8.GetString(Fixtures.RecordedBody(name));
            Assert.Contains("x-anthropic-billing-header: cc_version=", text);
        }
    }
}
