using System.Globalization;
using LlamaGateway.Upstreams;

namespace LlamaGateway.SlotPersistence;

/// <summary>
/// Names of the files the gateway saves slot states into: <c>llama-gateway-{instance}-{n}.bin</c>, where the instance
/// name keeps only what llama-server's filename check accepts (ASCII letters, digits, '-' and '_'; anything else
/// becomes '_') and its first 64 characters. That is readable, and unchanged for names already made of those
/// characters, but not one-to-one: <c>gpu.1</c> and <c>gpu_1</c> get the same files, and two instances sharing a
/// <c>--slot-save-path</c> directory would overwrite and restore each other's states. So the options validator refuses
/// such pairs (<see cref="FindCollisions"/>) rather than the names changing (which would orphan files already saved:
/// llama-server cannot delete them).
/// </summary>
internal static class SlotFileNames
{
    private const int MaxNameLength = 64;

    /// <summary>The <paramref name="number"/>-th file of an instance.</summary>
    public static string For(string instanceName, int number) =>
        Prefix(instanceName) + number.ToString(CultureInfo.InvariantCulture) + ".bin";

    /// <summary>What every file name of the instance starts with; the number after it has no '-', so distinct prefixes never share a file.</summary>
    public static string Prefix(string instanceName) => "llama-gateway-" + SafeName(instanceName) + "-";

    /// <summary>
    /// Adds an error for each pair of upstreams with slot saving on whose files would have the same names, ignoring
    /// case (the save directory may be on a case-insensitive file system). Names that are equal ignoring case are
    /// reported by the name check already.
    /// </summary>
    public static void FindCollisions(List<string> errors, IReadOnlyList<UpstreamOptions> upstreams)
    {
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < upstreams.Count; i++)
        {
            var upstream = upstreams[i];
            if (!upstream.SlotSave.Enabled || string.IsNullOrWhiteSpace(upstream.Name))
            {
                continue;
            }

            var prefix = Prefix(upstream.Name);
            if (!seen.TryAdd(prefix, i))
            {
                var other = seen[prefix];
                if (!string.Equals(upstreams[other].Name, upstream.Name, StringComparison.OrdinalIgnoreCase))
                {
                    errors.Add($"Gateway:Upstreams:{i}:Name \"{upstream.Name}\" and Gateway:Upstreams:{other}:Name \"{upstreams[other].Name}\" both have SlotSave enabled " +
                        $"and would save into the same files ({prefix}<n>.bin): sharing a --slot-save-path directory, they would overwrite each other's " +
                        $"saved states. Rename one: file names keep ASCII letters, digits, '-' and '_', turn other characters into '_' and keep the first {MaxNameLength} characters");
                }
            }
        }
    }

    private static string SafeName(string name)
    {
        var chars = name.Length > MaxNameLength ? name[..MaxNameLength].ToCharArray() : name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (!char.IsAsciiLetterOrDigit(chars[i]) && chars[i] is not ('-' or '_'))
            {
                chars[i] = '_';
            }
        }

        return new string(chars);
    }
}
