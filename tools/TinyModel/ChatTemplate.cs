using System.Reflection;

namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// The ChatML/Qwen2.5-style Jinja chat template embedded into every generated model (see ChatTemplate.jinja).
/// </summary>
internal static class ChatTemplate
{
    private const string ResourceName = "TinyModel.ChatTemplate.jinja";

    public static string Load()
    {
        using Stream stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"Embedded resource {ResourceName} is missing from the build.");
        using var reader = new StreamReader(stream);

        // A trailing newline in the file would be rendered after the generation prompt and change every prompt's
        // last token, so it is trimmed; the template itself controls all whitespace it emits.
        return reader.ReadToEnd().TrimEnd('\n', '\r');
    }
}
