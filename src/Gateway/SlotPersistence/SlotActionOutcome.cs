namespace LlamaGateway.SlotPersistence;

/// <summary>How a <c>POST /slots/{id}?action=save|restore</c> call ended.</summary>
internal enum SlotActionOutcome
{
    /// <summary>llama-server did it and said how many tokens and bytes.</summary>
    Done,

    /// <summary>The server cannot save slots at all (501: started without <c>--slot-save-path</c>; 404/405: no such endpoint).</summary>
    Unsupported,

    /// <summary>The server answered with an error (e.g. a file it cannot write or restore, a state too big for the slot).</summary>
    Rejected,

    /// <summary>No answer within <c>SlotSave:TimeoutSeconds</c>.</summary>
    TimedOut,

    /// <summary>No connection, a broken or unreadable answer.</summary>
    Failed,
}
