using LlamaGateway.Hosting;
using LlamaGateway.Tests.Status;
using Microsoft.Extensions.Configuration;

namespace LlamaGateway.Tests.Hosting;

/// <summary>The example configurations in config/ must start: they bind and pass the start-up validation.</summary>
public sealed class ConfigExamplesTests
{
    public static TheoryData<string> Examples() => new(Directory.GetFiles(RepositoryFiles.Path("config"), "*.json").Select(Path.GetFileName).OfType<string>());

    private static (IConfiguration Configuration, GatewayOptions Options) Load(string file)
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(RepositoryFiles.Path(Path.Combine("config", file))).Build();
        return (configuration, configuration.GetSection(GatewayOptions.SectionName).Get<GatewayOptions>() ?? new GatewayOptions());
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Validate_ExampleConfiguration_Succeeds(string file)
    {
        var (configuration, options) = Load(file);

        var result = new GatewayOptionsValidator(configuration).Validate(null, options);

        Assert.True(result.Succeeded, $"config/{file}: {result.FailureMessage}");
    }

    [Fact]
    public void Bind_SingleLlamaServerExample_EnablesSlotSaveWithItsBudget()
    {
        var upstream = Assert.Single(Load("single-llama-server.json").Options.Upstreams);

        Assert.True(upstream.SlotSave.Enabled);
        Assert.Equal(65536, upstream.SlotSave.MaxDiskMiB);
        Assert.Equal(2048, upstream.SlotSave.MinTokens);
    }
}
