using System.Buffers;

namespace LlamaGateway.Normalization;

/// <summary>
/// The result of the lookahead over <c>messages</c>: each message's role, which system messages fold into which user
/// message, and the reminder texts. Built before any message is written because a reminder can land in a message
/// that comes earlier than its source. Arrays are pooled; dispose it.
/// </summary>
internal struct FoldPlan : IDisposable
{
    private MessageRole[] _roles;
    private MessageFlags[] _flags;
    private Fold[] _folds;
    private int _foldCount;

    /// <summary>Reminder block texts (<c>&lt;system-reminder&gt;\n...\n&lt;/system-reminder&gt;</c>), back to back.</summary>
    public ScratchBuffer Texts;

    public FoldPlan()
    {
        _roles = ArrayPool<MessageRole>.Shared.Rent(16);
        _flags = ArrayPool<MessageFlags>.Shared.Rent(16);
        _folds = ArrayPool<Fold>.Shared.Rent(4);
        MessageCount = 0;
        _foldCount = 0;
        Texts = default;
    }

    [Flags]
    private enum MessageFlags : byte
    {
        None = 0,
        Foldable = 1,
        Removed = 2,
        Converted = 4,
        ReceivesReminders = 8,
    }

    public int MessageCount { get; private set; }

    public readonly int FoldCount => _foldCount;

    public void Clear()
    {
        MessageCount = 0;
        _foldCount = 0;
        Texts.Clear();
    }

    /// <summary>Records the next message; for a foldable one, its reminder text is <c>Texts[textStart..]</c>.</summary>
    public void Add(MessageRole role, bool foldable, int textStart)
    {
        Grow(ref _roles, MessageCount);
        Grow(ref _flags, MessageCount);
        _roles[MessageCount] = role;
        _flags[MessageCount] = foldable ? MessageFlags.Foldable : MessageFlags.None;
        if (foldable)
        {
            Grow(ref _folds, _foldCount);
            _folds[_foldCount++] = new Fold(MessageCount, -1, default, textStart, Texts.Length - textStart);
        }

        MessageCount++;
    }

    /// <summary>
    /// Chooses each reminder's target. The PRECEDING user message comes first on purpose: Claude Code sends
    /// [user, system, assistant, user, ...] and re-sends the same early messages every turn. Appending the reminder to
    /// the user turn before it keeps that turn's bytes identical in every later request, so turn N's prompt stays an
    /// exact prefix of turn N+1's and llama-server reuses its KV cache. Attaching to the FOLLOWING message instead would
    /// move the reminder whenever a new message arrives after it, changing an early part of the prompt every turn.
    /// "Preceding" means the previous message as written out, so several system messages in a row all join the same
    /// user turn.
    /// </summary>
    public void Resolve()
    {
        var previousIsUser = false;
        var previous = -1;
        var fold = 0;
        for (var i = 0; i < MessageCount; i++)
        {
            if ((_flags[i] & MessageFlags.Foldable) == 0)
            {
                previousIsUser = _roles[i] == MessageRole.User;
                previous = i;
                continue;
            }

            ref var entry = ref _folds[fold++];
            if (previousIsUser)
            {
                entry = entry with { Target = previous, Placement = FoldPlacement.AppendToPreceding };
                _flags[i] |= MessageFlags.Removed;
                _flags[previous] |= MessageFlags.ReceivesReminders;
                continue;
            }

            var next = i + 1;
            while (next < MessageCount && (_flags[next] & MessageFlags.Foldable) != 0)
            {
                next++;
            }

            if (next < MessageCount && _roles[next] == MessageRole.User)
            {
                entry = entry with { Target = next, Placement = FoldPlacement.PrependToFollowing };
                _flags[i] |= MessageFlags.Removed;
                _flags[next] |= MessageFlags.ReceivesReminders;
            }
            else
            {
                entry = entry with { Target = i, Placement = FoldPlacement.OwnUserMessage };
                _flags[i] |= MessageFlags.Converted;
                previousIsUser = true;
                previous = i;
            }
        }
    }

    public readonly MessageRole RoleOf(int message) => _roles[message];

    public readonly bool IsRemoved(int message) => (_flags[message] & MessageFlags.Removed) != 0;

    public readonly bool IsConverted(int message) => (_flags[message] & MessageFlags.Converted) != 0;

    public readonly bool ReceivesReminders(int message) => (_flags[message] & MessageFlags.ReceivesReminders) != 0;

    /// <summary>
    /// Iterates the reminders placed on <paramref name="target"/> in message order: start with <c>cursor = 0</c> and
    /// call until it returns false.
    /// </summary>
    public readonly bool NextReminder(int target, FoldPlacement placement, ref int cursor, out ReadOnlySpan<byte> text)
    {
        while (cursor < _foldCount)
        {
            var fold = _folds[cursor++];
            if (fold.Target == target && fold.Placement == placement)
            {
                text = Texts.Slice(fold.TextStart, fold.TextLength);
                return true;
            }
        }

        text = default;
        return false;
    }

    public void Dispose()
    {
        ArrayPool<MessageRole>.Shared.Return(_roles);
        ArrayPool<MessageFlags>.Shared.Return(_flags);
        ArrayPool<Fold>.Shared.Return(_folds);
        Texts.Dispose();
    }

    private static void Grow<T>(ref T[] array, int index)
    {
        if (index < array.Length)
        {
            return;
        }

        var grown = ArrayPool<T>.Shared.Rent(array.Length * 2);
        array.AsSpan().CopyTo(grown);
        ArrayPool<T>.Shared.Return(array);
        array = grown;
    }

    private readonly record struct Fold(int Source, int Target, FoldPlacement Placement, int TextStart, int TextLength);
}
