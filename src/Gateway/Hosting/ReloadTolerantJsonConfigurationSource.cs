using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

namespace LlamaGateway.Hosting;

/// <summary>
/// A JSON file source whose reloads never lose the configuration. The framework's file provider empties its values
/// when the file disappears ("always optional on reload") and, on a read error, empties them and throws on the file
/// watcher's thread; with users in the file and upstreams on the command line, deleting the file opened the gateway.
/// This one watches the file itself and applies a change only once the whole file has been read, is valid UTF-8 and
/// parses; otherwise (deleted, replaced by a directory, unreadable, half-saved, a duplicate key) the previous values
/// stay and the change is reported through <see cref="Provider.ReloadFailed"/>. The first load still throws, so
/// start-up fails fast on a missing or broken file.
/// </summary>
internal sealed class ReloadTolerantJsonConfigurationSource : JsonConfigurationSource
{
    /// <summary>Watch the file and apply its changes (instead of <see cref="FileConfigurationSource.ReloadOnChange"/>, which stays off).</summary>
    public bool WatchForChanges { get; init; }

    public override IConfigurationProvider Build(IConfigurationBuilder builder)
    {
        EnsureDefaults(builder);
        return new Provider(this);
    }

    internal sealed class Provider : JsonConfigurationProvider
    {
        private readonly IDisposable? _watch;

        public Provider(ReloadTolerantJsonConfigurationSource source)
            : base(source)
        {
            var relative = source.Path ?? string.Empty;
            FullPath = source.FileProvider is PhysicalFileProvider physical ? System.IO.Path.Combine(physical.Root, relative) : relative;
            if (source.WatchForChanges && source.FileProvider is { } files)
            {
                _watch = ChangeToken.OnChange(() => files.Watch(relative), Reload);
            }
        }

        /// <summary>Raised (on the file watcher's thread) with the file's path and the reason when a change could not be applied.</summary>
        public event Action<string, string>? ReloadFailed;

        public string FullPath { get; }

        public override void Load()
        {
            if (Directory.Exists(FullPath))
            {
                throw new IOException($"The configuration file '{FullPath}' is a directory, not a JSON file.");
            }

            base.Load();
        }

        /// <summary>Parses the whole stream; the values change only when it parses.</summary>
        public override void Load(Stream stream)
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
            if (!Utf8.IsValid(bytes))
            {
                // The parser would read invalid bytes as U+FFFD and carry on, quietly changing a key or a name.
                throw new FormatException($"The file is not valid UTF-8 text ({InvalidUtf8Position(bytes)}); save it as UTF-8.");
            }

            buffer.Position = 0;
            base.Load(buffer);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _watch?.Dispose();
            }

            base.Dispose(disposing);
        }

        /// <summary>What one failure to load the file says, inner reasons included (the parser puts the line and position there).</summary>
        public static string Reason(Exception exception)
        {
            var parts = new List<string>();
            for (var e = exception; e is not null; e = e.InnerException)
            {
                if (!parts.Contains(e.Message))
                {
                    parts.Add(e.Message);
                }
            }

            return string.Join(" ", parts);
        }

        private void Reload()
        {
            // As the framework's provider does: let an editor finish writing before reading.
            Thread.Sleep(Source.ReloadDelay);
            var previous = Data;
            string? reason;
            try
            {
                var file = Source.FileProvider!.GetFileInfo(Source.Path ?? string.Empty);
                if (!file.Exists)
                {
                    reason = Directory.Exists(FullPath) ? "it is now a directory, not a file" : "the file no longer exists (deleted or renamed)";
                }
                else
                {
                    using var stream = file.CreateReadStream();
                    Load(stream);
                    reason = null;
                }
            }
            catch (Exception ex)
            {
                // Unreadable (permissions, an I/O error), not UTF-8, not JSON: whatever it was, nothing of it applies.
                reason = Reason(ex);
            }

            if (reason is not null)
            {
                Data = previous;
                ReloadFailed?.Invoke(FullPath, reason);
                return;
            }

            OnReload();
        }

        private static string InvalidUtf8Position(ReadOnlySpan<byte> bytes)
        {
            var offset = 0;
            while (offset < bytes.Length && Rune.DecodeFromUtf8(bytes[offset..], out _, out var consumed) == OperationStatus.Done)
            {
                offset += consumed;
            }

            var line = 1;
            foreach (var b in bytes[..offset])
            {
                if (b == (byte)'\n')
                {
                    line++;
                }
            }

            return $"line {line}, byte {offset}";
        }
    }
}
