using LlamaGateway.Conversations;
using LlamaGateway.Routing;
using LlamaGateway.Upstreams;

namespace LlamaGateway.SlotPersistence;

/// <summary>
/// The slot files the gateway keeps for one instance: which file holds which conversation's state, and how much disk
/// they take. llama-server has no call to delete a file, so disk use is bounded by reusing names: a new name is taken
/// only while the files fit in <c>MaxDiskMiB</c>, otherwise the least recently used file (failed writes first) is
/// overwritten. The size of a state is estimated from the bytes per token of earlier saves, so only the very first
/// save on an instance can overshoot the budget (by at most itself). Files being written are not read and files being
/// read are not overwritten, so concurrent requests on other slots never see a half-written state. One lock; every
/// operation is a scan of a few dozen files.
/// </summary>
internal sealed class SavedStateIndex
{
    /// <summary>How much faster than prefill a restore is assumed to be until the instance has reported one (a file read, no forward pass).</summary>
    public const double AssumedRestoreSpeedup = 10;

    private readonly object _gate = new();
    private readonly List<SavedStateFile> _files = [];
    private readonly UpstreamInstance _instance;
    private long _bytesOnDisk;
    private double _bytesPerToken;
    private double _restoreTokensPerSecond;
    private int? _unsupportedGeneration;
    private string? _unsupportedReason;
    private long _saves;
    private long _saveFailures;
    private long _bytesWritten;
    private long _skipped;
    private long _restores;
    private long _restoreFailures;
    private long _tokensRestored;
    private long _bytesRead;

    public SavedStateIndex(UpstreamInstance instance)
    {
        _instance = instance;
    }

    /// <summary>
    /// False once the instance answered that it cannot save slots (started without <c>--slot-save-path</c>), until it
    /// restarts (its generation changes), when it may have been started with it.
    /// </summary>
    public bool IsSupported
    {
        get
        {
            lock (_gate)
            {
                return SupportedLocked();
            }
        }
    }

    /// <summary>The file name of the <paramref name="number"/>-th file for an instance (<see cref="SlotFileNames"/>).</summary>
    public static string FileName(string instanceName, int number) => SlotFileNames.For(instanceName, number);

    /// <summary>
    /// Picks the file to save <paramref name="content"/> into and marks it being written, or says why it is not saved
    /// (already saved, too small, does not fit the budget). A file is its owner's: another identity's newer state
    /// never overwrites it, and under <paramref name="perUser"/> isolation another identity's file holding the same
    /// prompt does not count as saved (its owner could not restore it).
    /// </summary>
    public SaveReservation ReserveSave(SlotContent content, SlotSaveOptions options, long now, bool perUser = false)
    {
        lock (_gate)
        {
            if (content.CachedTokens < options.MinTokens)
            {
                return SaveReservation.Skip($"{content.CachedTokens} tokens, below MinTokens {options.MinTokens}", countAsSkipped: false);
            }

            SavedStateFile? superseded = null;
            foreach (var file in _files)
            {
                if (file.Content is not { } held)
                {
                    continue;
                }

                var sameOwner = string.Equals(held.User, content.User, StringComparison.Ordinal);
                if (held.SamePromptAs(content) && (sameOwner || !perUser))
                {
                    return SaveReservation.Skip($"already saved in {file.FileName}", countAsSkipped: false);
                }

                // An older state of the same conversation is worth least once the newer one is saved: overwrite it.
                if (superseded is null && IsFree(file) && sameOwner && (SameConversation(held, content) || Extends(content, held)))
                {
                    superseded = file;
                }
            }

            var budget = options.MaxDiskBytes;
            var estimate = (long)Math.Ceiling(content.CachedTokens * _bytesPerToken);
            if (estimate > budget)
            {
                _skipped++;
                return SaveReservation.Skip($"~{Mib(estimate)} MiB, more than MaxDiskMiB {options.MaxDiskMiB}", countAsSkipped: true);
            }

            // A file that holds nothing usable (a failed write, a refused restore) is reused before a new name is
            // taken: it costs nothing and keeps the number of files on llama-server's disk down.
            var empty = _files.Find(f => f.Content is null && IsFree(f) && Fits(f, estimate, budget));
            var target = superseded is not null && Fits(superseded, estimate, budget) ? superseded
                : empty ?? (Fits(null, estimate, budget) ? NewFile() : LeastRecentlyUsedThatFits(estimate, budget));
            if (target is null)
            {
                _skipped++;
                return SaveReservation.Skip($"~{Mib(estimate)} MiB does not fit: {Mib(_bytesOnDisk)} of {options.MaxDiskMiB} MiB (MaxDiskMiB) in use and no free file large enough to overwrite", countAsSkipped: true);
            }

            target.Writing = true;
            target.Content = null;
            target.LastUsed = now;
            return SaveReservation.Reserved(target, estimate);
        }
    }

    /// <summary>llama-server saved the state: <paramref name="tokens"/> tokens (<c>n_saved</c>) in <paramref name="bytes"/> bytes (<c>n_written</c>).</summary>
    public void CompleteSave(SavedStateFile file, SlotContent content, int tokens, long bytes, long now)
    {
        lock (_gate)
        {
            file.Writing = false;
            _bytesOnDisk += bytes - file.Bytes;
            file.Bytes = bytes;
            file.Content = tokens > 0 ? content with { CachedTokens = tokens } : content;
            file.LastUsed = now;
            if (tokens > 0 && bytes > 0)
            {
                // The largest ratio seen: estimates err towards staying inside the budget.
                _bytesPerToken = Math.Max(_bytesPerToken, (double)bytes / tokens);
            }

            _saves++;
            _bytesWritten += bytes;
        }
    }

    /// <summary>
    /// The save did not complete. Whatever the file held is gone; if llama-server may have written part or all of it,
    /// its size is taken as the larger of the old size and the estimate, so the budget still counts it.
    /// </summary>
    public void AbandonSave(SavedStateFile file, long estimate, bool mayHaveWritten, bool failed)
    {
        lock (_gate)
        {
            file.Writing = false;
            file.Content = null;
            if (mayHaveWritten && estimate > file.Bytes)
            {
                _bytesOnDisk += estimate - file.Bytes;
                file.Bytes = estimate;
            }

            if (failed)
            {
                _saveFailures++;
            }
        }
    }

    /// <summary>
    /// The saved state the request reuses most of, if that is at least <paramref name="minimumTokens"/>, among those
    /// <paramref name="scope"/> covers; marks it being read so it is not overwritten meanwhile.
    /// </summary>
    public RestoreReservation? ReserveRestore(ConversationFingerprint fingerprint, double tokensPerChar, double minimumTokens, ReuseScope scope = default)
    {
        lock (_gate)
        {
            var (best, tokens) = BestFor(fingerprint, tokensPerChar, scope);
            if (best is null || tokens <= 0 || tokens < minimumTokens)
            {
                return null;
            }

            best.Readers++;
            return new RestoreReservation(best, best.Content!, tokens);
        }
    }

    /// <summary>What a restore would give the request here: the tokens it would reuse and the restore speed (0 until measured).</summary>
    public RestoreEstimate Restorable(ConversationFingerprint fingerprint, double tokensPerChar, ReuseScope scope = default)
    {
        lock (_gate)
        {
            if (!SupportedLocked())
            {
                return default;
            }

            var (_, tokens) = BestFor(fingerprint, tokensPerChar, scope);
            return new RestoreEstimate(tokens, _restoreTokensPerSecond);
        }
    }

    /// <summary>llama-server restored <paramref name="tokens"/> tokens (<c>n_restored</c>) from <paramref name="bytes"/> bytes in <paramref name="milliseconds"/>.</summary>
    public void CompleteRestore(SavedStateFile file, int tokens, long bytes, double milliseconds, long now)
    {
        lock (_gate)
        {
            file.Readers--;
            file.LastUsed = now;
            _restores++;
            _tokensRestored += Math.Max(0, tokens);
            _bytesRead += Math.Max(0, bytes);
            if (tokens > 0 && milliseconds > 0)
            {
                var speed = tokens / (milliseconds / 1000.0);
                _restoreTokensPerSecond = _restoreTokensPerSecond <= 0 ? speed : _restoreTokensPerSecond + (0.3 * (speed - _restoreTokensPerSecond));
            }
        }
    }

    /// <summary>The restore did not complete; an <paramref name="unusable"/> file (llama-server refused it) is never offered again.</summary>
    public void AbandonRestore(SavedStateFile file, bool unusable, bool failed)
    {
        lock (_gate)
        {
            file.Readers--;
            if (unusable)
            {
                file.Content = null;
            }

            if (failed)
            {
                _restoreFailures++;
            }
        }
    }

    /// <summary>Turns the feature off for this instance until it restarts; true the first time (so it is logged once).</summary>
    public bool MarkUnsupported(string reason)
    {
        lock (_gate)
        {
            var first = _unsupportedGeneration != _instance.Generation;
            _unsupportedGeneration = _instance.Generation;
            _unsupportedReason = reason;
            return first;
        }
    }

    public SlotSaveStatistics Statistics(SlotSaveOptions options)
    {
        lock (_gate)
        {
            var supported = SupportedLocked();
            return new SlotSaveStatistics(supported, supported ? null : _unsupportedReason, _files.Count(f => f.Content is not null), _files.Count, _bytesOnDisk,
                options.MaxDiskBytes, _saves, _saveFailures, _bytesWritten, _skipped, _restores, _restoreFailures, _tokensRestored, _bytesRead);
        }
    }

    private bool SupportedLocked()
    {
        if (_unsupportedGeneration is { } generation && generation != _instance.Generation)
        {
            _unsupportedGeneration = null;
            _unsupportedReason = null;
        }

        return _unsupportedGeneration is null;
    }

    private (SavedStateFile? File, double Tokens) BestFor(ConversationFingerprint fingerprint, double tokensPerChar, ReuseScope scope)
    {
        SavedStateFile? best = null;
        var bestTokens = 0.0;
        foreach (var file in _files)
        {
            if (file.Writing || file.Content is not { } held || held.PrefixKey != fingerprint.PrefixKey || !scope.Covers(held.User))
            {
                continue;
            }

            var tokens = Math.Min(SlotChooser.ReusableTokens(held, fingerprint, tokensPerChar), held.CachedTokens);
            if (tokens > bestTokens)
            {
                best = file;
                bestTokens = tokens;
            }
        }

        return (best, bestTokens);
    }

    private SavedStateFile NewFile()
    {
        var file = new SavedStateFile(FileName(_instance.Name, _files.Count));
        _files.Add(file);
        return file;
    }

    private SavedStateFile? LeastRecentlyUsedThatFits(long estimate, long budget)
    {
        SavedStateFile? pick = null;
        foreach (var file in _files)
        {
            if (!IsFree(file) || !Fits(file, estimate, budget))
            {
                continue;
            }

            // Files that hold nothing usable go first, then the oldest.
            if (pick is null || (file.Content is null && pick.Content is not null)
                || ((file.Content is null) == (pick.Content is null) && file.LastUsed < pick.LastUsed))
            {
                pick = file;
            }
        }

        return pick;
    }

    private bool Fits(SavedStateFile? overwritten, long estimate, long budget) => _bytesOnDisk - (overwritten?.Bytes ?? 0) + estimate <= budget;

    private static bool IsFree(SavedStateFile file) => !file.Writing && file.Readers == 0;

    private static bool SameConversation(SlotContent a, SlotContent b) => a.ConversationId is not null && a.ConversationId == b.ConversationId;

    /// <summary>Whether <paramref name="longer"/>'s prompt continues <paramref name="shorter"/>'s (a hash chain: the last shared link decides).</summary>
    private static bool Extends(SlotContent longer, SlotContent shorter) =>
        longer.PrefixKey == shorter.PrefixKey && shorter.Chain.Length <= longer.Chain.Length
        && (shorter.Chain.Length == 0 || longer.Chain[shorter.Chain.Length - 1] == shorter.Chain[^1]);

    private static long Mib(long bytes) => (bytes + (1024 * 1024) - 1) / (1024 * 1024);
}
