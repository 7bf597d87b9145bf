using LlamaGateway.EndToEnd.Support;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>The log parser against lines llama-server (node-llama-cpp 3.22.1) really wrote.</summary>
[Trait("Category", "e2e")]
public sealed class LlamaServerLogTests
{
    [Fact]
    public void Parse_TwoRequestsOnOneSlot_ReportsSelectionAndRecomputedTokens()
    {
        string[] lines =
        [
            "0.05.884.021 I slot get_availabl: id  3 | task -1 | selected slot by LRU, t_last = -1",
            "0.05.885.451 I slot launch_slot_: id  3 | task 2 | processing task, is_child = 0",
            "0.09.122.569 I slot print_timing: id  3 | task 2 | prompt processing, n_tokens =   8192, progress = 0.69, t =   3.24 s / 2530.73 tokens per second",
            "0.11.658.844 I slot print_timing: id  3 | task 2 | prompt eval time =    5770.44 ms / 11916 tokens (    0.48 ms per token,  2065.01 tokens per second)",
            "0.11.660.279 I slot      release: id  3 | task 2 | stop processing: n_tokens = 11916, truncated = 0",
            "0.11.770.787 I slot get_availabl: id  3 | task -1 | selected slot by LCP similarity, f_sim_best = 0.819 (> 0.100 thold), f_keep = 0.821",
            "0.11.772.889 I slot launch_slot_: id  3 | task 9 | processing task, is_child = 0",
            "0.13.933.843 I slot print_timing: id  3 | task 9 | prompt eval time =    2160.80 ms /  2157 tokens (    1.00 ms per token,   998.24 tokens per second)",
        ];

        var requests = LlamaServerLog.Parse(lines);

        Assert.Equal(2, requests.Count);
        Assert.Equal(new LlamaRequest(3, 2, "LRU", 11916, 5770.44, 11916), requests[0]);
        Assert.Equal(new LlamaRequest(3, 9, "LCP similarity", 2157, 2160.80, null), requests[1]);
        Assert.False(requests[1].Finished);
    }

    [Fact]
    public void Parse_PromptCancelledMidPrefill_IsFinishedAndCancelledWithoutRecomputedTokens()
    {
        // A long prompt the gateway paused for a shorter one, then sent again (this repository's e2e log).
        string[] lines =
        [
            "0.01.123.079 I slot get_availabl: id  0 | task -1 | selected slot by id (0)",
            "0.01.123.422 I slot launch_slot_: id  0 | task 2 | processing task, is_child = 0",
            "0.02.183.826 W srv          stop: cancel task, id_task = 2",
            "0.02.529.679 I slot      release: id  0 | task 2 | stop processing: n_tokens = 1536, truncated = 0",
            "0.02.816.589 I slot get_availabl: id  0 | task -1 | selected slot by id (0)",
            "0.02.816.881 I slot launch_slot_: id  0 | task 10 | processing task, is_child = 0",
            "0.16.618.300 I slot print_timing: id  0 | task 10 | prompt eval time =   13800.76 ms / 10216 tokens (    1.35 ms per token,   740.25 tokens per second)",
            "0.16.619.089 I slot      release: id  0 | task 10 | stop processing: n_tokens = 11752, truncated = 0",
        ];

        var requests = LlamaServerLog.Parse(lines);

        Assert.Equal(new LlamaRequest(0, 2, "id", null, null, 1536, Cancelled: true), requests[0]);
        Assert.Equal(new LlamaRequest(0, 10, "id", 10216, 13800.76, 11752), requests[1]);
    }

    [Fact]
    public void Parse_PinnedRequest_ReportsSelectionById()
    {
        string[] lines =
        [
            "1.02.000.001 I slot get_availabl: id  1 | task -1 | selected slot by id (1)",
            "1.02.000.002 I slot launch_slot_: id  1 | task 40 | processing task, is_child = 0",
            "1.02.100.000 I slot print_timing: id  1 | task 40 | prompt eval time =      20.00 ms /    17 tokens (    1.18 ms per token,   850.00 tokens per second)",
            "1.02.100.100 I slot      release: id  1 | task 40 | stop processing: n_tokens = 12034, truncated = 0",
        ];

        var request = Assert.Single(LlamaServerLog.Parse(lines));

        Assert.Equal(new LlamaRequest(1, 40, "id", 17, 20.00, 12034), request);
    }

    [Fact]
    public void Parse_MetricsText_ReadsCounters()
    {
        var metrics = LlamaServerMetrics.Parse("# HELP x\nllamacpp:prompt_tokens_total 14073\nllamacpp:prompt_tokens_cached_total 9778\nllamacpp:requests_processing 1\n");

        Assert.Equal(14073, metrics.PromptTokens);
        Assert.Equal(9778, metrics.CachedPromptTokens);
        Assert.Equal(1, metrics.RequestsProcessing);
    }
}
