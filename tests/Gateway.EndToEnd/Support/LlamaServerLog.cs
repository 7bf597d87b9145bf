using System.Globalization;
using System.Text.RegularExpressions;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>
/// One prompt llama-server processed, as its own log tells it (not as the gateway reports it).
/// </summary>
/// <param name="Slot">The slot that ran it.</param>
/// <param name="Task">llama-server's task id.</param>
/// <param name="Selection">How the slot was chosen: "id" (pinned with id_slot), "LCP similarity", "LRU", or "?".</param>
/// <param name="RecomputedTokens">Prompt tokens actually evaluated (<c>prompt eval time = X ms / N tokens</c>); null if not logged yet.</param>
/// <param name="PromptMilliseconds">Time spent evaluating them.</param>
/// <param name="ContextTokens">Tokens in the slot when the request finished (prompt + output); null while running.</param>
/// <param name="Cancelled">Its client closed the connection (<c>cancel task</c>); a prompt cancelled before it was done logs no prompt eval line.</param>
internal sealed record LlamaRequest(int Slot, int Task, string Selection, int? RecomputedTokens, double? PromptMilliseconds, int? ContextTokens, bool Cancelled = false)
{
    public bool Finished => ContextTokens is not null;

    public override string ToString() =>
        $"slot {Slot} (by {Selection}) task {Task}: recomputed {RecomputedTokens?.ToString(CultureInfo.InvariantCulture) ?? "?"} of {ContextTokens?.ToString(CultureInfo.InvariantCulture) ?? "?"} tokens" +
        (PromptMilliseconds is { } ms ? $" in {ms:0} ms" : string.Empty) + (Cancelled ? ", cancelled" : string.Empty);
}

/// <summary>Parses llama-server's (3.22.1-era) slot log lines into <see cref="LlamaRequest"/>s.</summary>
internal static partial class LlamaServerLog
{
    public static IReadOnlyList<LlamaRequest> Parse(IEnumerable<string> lines)
    {
        var pendingSelection = new Dictionary<int, string>();
        var requests = new List<LlamaRequest>();
        var byTask = new Dictionary<int, int>();
        foreach (var line in lines)
        {
            if (SelectedLine().Match(line) is { Success: true } selected)
            {
                pendingSelection[Int(selected, "slot")] = selected.Groups["how"].Value.Trim();
            }
            else if (LaunchLine().Match(line) is { Success: true } launch)
            {
                var slot = Int(launch, "slot");
                var task = Int(launch, "task");
                var how = pendingSelection.Remove(slot, out var s) ? s : "?";
                byTask[task] = requests.Count;
                requests.Add(new LlamaRequest(slot, task, how, null, null, null));
            }
            else if (PromptEvalLine().Match(line) is { Success: true } eval && byTask.TryGetValue(Int(eval, "task"), out var evalIndex))
            {
                requests[evalIndex] = requests[evalIndex] with
                {
                    RecomputedTokens = Int(eval, "tokens"),
                    PromptMilliseconds = double.Parse(eval.Groups["ms"].Value, CultureInfo.InvariantCulture),
                };
            }
            else if (CancelLine().Match(line) is { Success: true } cancel && byTask.TryGetValue(Int(cancel, "task"), out var cancelIndex))
            {
                requests[cancelIndex] = requests[cancelIndex] with { Cancelled = true };
            }
            else if (ReleaseLine().Match(line) is { Success: true } release && byTask.TryGetValue(Int(release, "task"), out var releaseIndex))
            {
                requests[releaseIndex] = requests[releaseIndex] with { ContextTokens = Int(release, "tokens") };
            }
        }

        return requests;
    }

    private static int Int(Match match, string group) => int.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);

    // slot get_availabl: id  3 | task -1 | selected slot by LCP similarity, f_sim_best = 0.819 (> 0.100 thold), f_keep = 0.821
    // slot get_availabl: id  1 | task -1 | selected slot by id (1)
    [GeneratedRegex(@"slot\s+get_availabl\w*: id\s+(?<slot>\d+) \| task -?\d+ \| selected slot by (?<how>[^,(]+)")]
    private static partial Regex SelectedLine();

    // slot launch_slot_: id  3 | task 9 | processing task, is_child = 0
    [GeneratedRegex(@"slot\s+launch_slot_\w*: id\s+(?<slot>\d+) \| task (?<task>\d+) \| processing task")]
    private static partial Regex LaunchLine();

    // slot print_timing: id  3 | task 2 | prompt eval time =    5770.44 ms / 11916 tokens (...)
    [GeneratedRegex(@"slot\s+print_timing: id\s+\d+ \| task (?<task>\d+) \| prompt eval time =\s*(?<ms>[\d.]+) ms /\s*(?<tokens>\d+) tokens")]
    private static partial Regex PromptEvalLine();

    // srv          stop: cancel task, id_task = 2
    [GeneratedRegex(@"srv\s+stop: cancel task, id_task = (?<task>\d+)")]
    private static partial Regex CancelLine();

    // slot      release: id  3 | task 2 | stop processing: n_tokens = 11916, truncated = 0
    [GeneratedRegex(@"slot\s+release: id\s+\d+ \| task (?<task>\d+) \| stop processing: n_tokens = (?<tokens>\d+)")]
    private static partial Regex ReleaseLine();
}
