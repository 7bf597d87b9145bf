using System.Diagnostics;

namespace LlamaGateway.Forwarding;

/// <summary>
/// Propagates W3C trace context (<c>traceparent</c>, <c>tracestate</c>) to upstreams and nothing else: the default
/// propagator also re-sends the incoming request's <c>baggage</c>, which is whatever a client put there (user ids,
/// anything), so a client could push arbitrary header content to an upstream through it. See
/// <see cref="UpstreamRequestHeaders"/> for the rest of what reaches an upstream.
/// </summary>
internal sealed class TraceContextPropagator(DistributedContextPropagator inner) : DistributedContextPropagator
{
    private static readonly string[] TraceFields = ["traceparent", "tracestate"];

    public override IReadOnlyCollection<string> Fields => TraceFields;

    public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter)
    {
        if (setter is null)
        {
            return;
        }

        inner.Inject(activity, carrier, (c, name, value) =>
        {
            if (Array.Exists(TraceFields, f => string.Equals(f, name, StringComparison.OrdinalIgnoreCase)))
            {
                setter(c, name, value);
            }
        });
    }

    public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState) =>
        inner.ExtractTraceIdAndState(carrier, getter, out traceId, out traceState);

    public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) => null;
}
