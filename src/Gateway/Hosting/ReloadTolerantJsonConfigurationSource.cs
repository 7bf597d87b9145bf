using Microsoft.Extensions.Configuration.Json;

namespace LlamaGateway.Hosting;

/// <summary>
/// A JSON file source whose reloads never lose the configuration: an edit that does not parse (a half-saved file,
/// a duplicate key) keeps the previously loaded values instead of emptying them, and is reported through
/// <see cref="Provider.ReloadFailed"/>. The first load still throws, so start-up fails fast on a broken file.
/// </summary>
internal sealed class ReloadTolerantJsonConfigurationSource : JsonConfigurationSource
{
    public override IConfigurationProvider Build(IConfigurationBuilder builder)
    {
        EnsureDefaults(builder);
        return new Provider(this);
    }

    internal sealed class Provider(JsonConfigurationSource source) : JsonConfigurationProvider(source)
    {
        private bool _loaded;

        /// <summary>Raised (on the file watcher's thread) when a changed file could not be parsed.</summary>
        public event Action<string, Exception>? ReloadFailed;

        public string Path => Source.Path ?? string.Empty;

        public override void Load(Stream stream)
        {
            try
            {
                base.Load(stream);
                _loaded = true;
            }
            catch (FormatException ex) when (_loaded)
            {
                // Data still holds the last good values; the base class calls OnReload next, which re-validates the
                // same values and changes nothing.
                ReloadFailed?.Invoke(Path, ex);
            }
        }
    }
}
