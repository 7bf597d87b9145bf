namespace LlamaGateway.Normalization;

/// <summary>What to do with Claude Code's <c>x-anthropic-billing-header</c> line.</summary>
internal enum BillingHeaderMode
{
    /// <summary>Replace the whole value with one fixed value, so every request shares the same prefix (default).</summary>
    Replace,

    /// <summary>Remove the line (and a system block that held nothing else).</summary>
    Strip,

    /// <summary>Leave it as the client sent it.</summary>
    Keep,
}
