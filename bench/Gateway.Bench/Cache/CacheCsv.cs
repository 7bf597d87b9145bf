using System.Globalization;
using System.Text;

namespace LlamaGateway.Bench.Cache;

/// <summary>Every request of every variant, one row each, for digging past the summary tables.</summary>
internal static class CacheCsv
{
    public static string Write(IEnumerable<VariantResult> variants)
    {
        var sb = new StringBuilder("variant,request,user,conversation,kind,turn,body_bytes,sent_s,first_token_s,ended_s,ttft_s,status,input_tokens,cache_read_tokens,output_tokens,server_slot,server_selected_by,server_launch_s,server_prompt_ms,server_recomputed,queue_wait_s,behind_others_s,gateway_kind,gateway_reason,gateway_slot,gateway_conversation,gateway_queue_s,gateway_slot_action_s,gateway_wait_reasons,gateway_pauses,gateway_paused_s,gateway_chunks,gateway_chunked_tokens,gateway_chunk_yield_s,error\n");
        foreach (var variant in variants)
        {
            foreach (var r in variant.Results.OrderBy(r => r.Sent))
            {
                var t = r.Task;
                sb.AppendLine(string.Join(',',
                [
                    variant.Name, I(r.Request.Id), I(r.Request.User + 1), I(r.Request.Conversation), r.Request.Kind.ToString(), I(r.Request.Turn), I(r.Request.Body.Length),
                    F(r.Sent), F(r.FirstToken), F(r.Ended), F(r.Ttft), I(r.Status), I(r.InputTokens), I(r.CacheReadTokens), I(r.OutputTokens),
                    t is null ? string.Empty : I(t.Slot), t?.SelectedBy ?? string.Empty, t is null ? string.Empty : F(t.Launch), t is null ? string.Empty : F(t.PromptEvalMs / 1000.0),
                    t is null ? string.Empty : I(t.Recomputed), t is null ? string.Empty : F(VariantResult.QueueWait(r)), F(r.BehindOthers),
                    r.Decision?.Kind ?? string.Empty, r.Decision?.Reason ?? string.Empty, r.Decision?.Slot is { } slot ? I(slot) : string.Empty, r.Decision?.Conversation ?? string.Empty,
                    r.Decision is { } d ? F(d.QueueSeconds) : string.Empty, r.Decision is { } a ? F(a.SlotActionSeconds) : string.Empty,
                    r.Decision?.WaitReasons ?? string.Empty,
                    r.Decision is { } p ? I(p.Pauses) : string.Empty, r.Decision is { } q ? F(q.PausedSeconds) : string.Empty,
                    r.Decision is { } c ? I(c.Chunks) : string.Empty, r.Decision is { } ct ? I(ct.ChunkedTokens) : string.Empty, r.Decision is { } y ? F(y.YieldedSeconds) : string.Empty,
                    r.Error is null ? string.Empty : "\"" + r.Error.Replace("\"", "'", StringComparison.Ordinal).ReplaceLineEndings(" ") + "\"",
                ]));
            }
        }

        return sb.ToString();

        static string I(int value) => value.ToString(CultureInfo.InvariantCulture);
        static string F(double value) => double.IsNaN(value) ? string.Empty : value.ToString("0.000", CultureInfo.InvariantCulture);
    }
}
