using LlamaGateway.Hosting;
using LlamaGateway.SlotPersistence;
using LlamaGateway.Upstreams;

namespace LlamaGateway.Tests.SlotPersistence;

/// <summary>
/// Slot-file names come from instance names; two instances whose names map to the same files are refused by the
/// options validator, naming both, while every other pair is accepted.
/// </summary>
public sealed class SlotFileNamesTests
{
    private static UpstreamOptions Upstream(string name, bool slotSave = true, int port = 1) =>
        new() { Name = name, BaseUrl = $"http://127.0.0.1:{port}", SlotSave = new SlotSaveOptions { Enabled = slotSave } };

    private static string[] Errors(params UpstreamOptions[] upstreams) =>
        new GatewayOptionsValidator().Validate(null, new GatewayOptions { Upstreams = [.. upstreams] }).Failures?.ToArray() ?? [];

    [Theory]
    [InlineData("gpu-1", "llama-gateway-gpu-1-0.bin")]
    [InlineData("GPU_2", "llama-gateway-GPU_2-0.bin")]
    [InlineData("gpu 1/a", "llama-gateway-gpu_1_a-0.bin")]
    [InlineData("gpü", "llama-gateway-gp_-0.bin")]
    public void For_InstanceName_KeepsTheNamingOfSavedFiles(string name, string expected)
    {
        // Files saved before keep their names, so a restart finds and overwrites them rather than orphaning them.
        Assert.Equal(expected, SlotFileNames.For(name, 0));
        Assert.Equal(expected, SavedStateIndex.FileName(name, 0));
    }

    [Theory]
    [InlineData("gpu.1", "gpu_1")] // dot against underscore
    [InlineData("gpu.1", "gpu 1")] // two characters that both become '_'
    [InlineData("gpu:1", "gpu/1")]
    [InlineData("GPU.1", "gpu_1")] // case: the save directory may be on a case-insensitive file system
    [InlineData("gpü", "gp_")] // non-ASCII letter
    [InlineData("日本", "__")] // CJK
    [InlineData("a😀", "a__")] // a surrogate pair is two characters
    [InlineData("gpu-é", "gpu-ê")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-y")] // only 64 characters count
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public void Validate_NamesSharingSlotFiles_RefusedNamingBoth(string first, string second)
    {
        var errors = Errors(Upstream(first), Upstream(second, port: 2));

        var error = Assert.Single(errors);
        Assert.Contains($"Gateway:Upstreams:1:Name \"{second}\"", error);
        Assert.Contains($"Gateway:Upstreams:0:Name \"{first}\"", error);
        Assert.Contains(SlotFileNames.Prefix(second) + "<n>.bin", error);
        Assert.Contains("Rename one", error);
    }

    [Theory]
    [InlineData("gpu", "gpu-1")] // a prefix of the other's name: files gpu-<n> and gpu-1-<n> never meet
    [InlineData("gpu-1", "gpu-10")]
    [InlineData("gpu_1", "gpu-1")]
    [InlineData("gpu1", "gpu_1")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaax", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay")] // differ at the 64th character
    public void Validate_DistinctSlotFiles_Accepted(string first, string second)
    {
        Assert.Empty(Errors(Upstream(first), Upstream(second, port: 2)));
    }

    [Fact]
    public void Validate_SharedFilesButOneWithoutSlotSave_Accepted()
    {
        // Only instances that save write files.
        Assert.Empty(Errors(Upstream("gpu.1"), Upstream("gpu_1", slotSave: false, port: 2)));
    }

    [Fact]
    public void Validate_ThreeSharingOnePrefix_EachLaterOneNamesTheFirst()
    {
        var errors = Errors(Upstream("gpu.1"), Upstream("gpu_1", port: 2), Upstream("gpu 1", port: 3));

        Assert.Equal(2, errors.Length);
        Assert.Contains("Gateway:Upstreams:1:Name \"gpu_1\" and Gateway:Upstreams:0:Name \"gpu.1\"", errors[0]);
        Assert.Contains("Gateway:Upstreams:2:Name \"gpu 1\" and Gateway:Upstreams:0:Name \"gpu.1\"", errors[1]);
    }

    [Fact]
    public void Validate_SameNameIgnoringCase_ReportedOnceByTheNameCheck()
    {
        var error = Assert.Single(Errors(Upstream("gpu-1"), Upstream("GPU-1", port: 2)));

        Assert.Contains("names must be unique", error);
    }

    [Fact]
    public void Validate_RandomNames_RefusedExactlyWhenTwoInstancesWouldShareAFile()
    {
        // Names from an alphabet rich in characters that map to the same file-name character, around the 64 limit.
        const string alphabet = "aA1-_. /éü😀";
        var seed = Environment.GetEnvironmentVariable("SLOT_NAMES_SEED") is { } fixedSeed ? int.Parse(fixedSeed, System.Globalization.CultureInfo.InvariantCulture) : 20270;
        var random = new Random(seed);
        string Name()
        {
            var chars = new System.Text.StringBuilder();
            if (random.Next(3) == 0)
            {
                chars.Append('a', 60 + random.Next(4));
            }

            var tail = 1 + random.Next(4);
            for (var i = 0; i < tail; i++)
            {
                var c = alphabet[random.Next(alphabet.Length)];
                chars.Append(char.IsSurrogate(c) ? "😀" : c.ToString());
            }

            return chars.ToString();
        }

        var refused = 0;
        for (var round = 0; round < 2_000; round++)
        {
            var upstreams = Enumerable.Range(0, 2 + random.Next(3)).Select(i => Upstream(Name(), port: i + 1)).ToArray();
            if (upstreams.Select(u => u.Name).Distinct(StringComparer.OrdinalIgnoreCase).Count() != upstreams.Length || upstreams.Any(u => string.IsNullOrWhiteSpace(u.Name)))
            {
                continue;
            }

            // What is on disk: every file name of every instance, compared as a case-insensitive file system would.
            var files = upstreams.SelectMany(u => Enumerable.Range(0, 12).Select(n => SlotFileNames.For(u.Name, n))).ToArray();
            var shareAFile = files.Distinct(StringComparer.OrdinalIgnoreCase).Count() != files.Length;

            var errors = Errors(upstreams);
            Assert.True(shareAFile == (errors.Length > 0), $"seed {seed}, names [{string.Join(" | ", upstreams.Select(u => u.Name))}]: share a file {shareAFile}, errors: {string.Join("; ", errors)}");
            refused += errors.Length > 0 ? 1 : 0;
        }

        // The generator must produce both outcomes for the check to mean anything.
        Assert.InRange(refused, 50, 1_950);
    }
}
