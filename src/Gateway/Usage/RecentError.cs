namespace LlamaGateway.Usage;

/// <summary>One failed request as the dashboard lists it. Messages are the gateway's own text, never a request body or key, and quote client or upstream text only bounded.</summary>
internal sealed record RecentError(DateTimeOffset At, string Route, int Status, string Kind, string Message, string User, string? Upstream);
