using System.Net;
using LlamaGateway.Hosting;
using LlamaGateway.Pipeline;
using Microsoft.Extensions.Options;

namespace LlamaGateway.Auth;

/// <summary>
/// Counts wrong keys per client address (<c>Gateway:Limits:MaxFailedKeyAttempts</c> per
/// <c>FailedKeyWindowSeconds</c>, a fixed window from an address's first failure). Past the limit further wrong keys
/// from that address get 429 until its window ends, which bounds key guessing; a correct key is never counted or
/// refused, so a team behind one address (a NAT, a proxy) keeps working while someone there guesses.
/// </summary>
internal sealed class FailedKeyAttempts(IOptionsMonitor<GatewayOptions> options, TimeProvider time, ILogger<FailedKeyAttempts> logger)
{
    /// <summary>
    /// Addresses tracked at once; past it, expired windows are dropped, and if every one is live the new address
    /// shares one window with the other overflow addresses, so many addresses cannot grow memory without bound.
    /// </summary>
    internal const int MaxTrackedAddresses = 10_000;

    private static readonly IPAddress Overflow = IPAddress.IPv6None;

    private readonly Dictionary<IPAddress, Window> _windows = [];
    private readonly Lock _gate = new();

    /// <summary>
    /// Records a wrong key from <paramref name="address"/>. Returns null while the address is within its limit (the
    /// caller answers 401), else how long until it may try again (the caller answers 429 with <c>retry-after</c>).
    /// </summary>
    public TimeSpan? Fail(IPAddress? address)
    {
        var limits = options.CurrentValue.Limits;
        if (limits.MaxFailedKeyAttempts <= 0)
        {
            return null;
        }

        var key = Normalize(address);
        var now = time.GetUtcNow();
        var windowLength = TimeSpan.FromSeconds(limits.FailedKeyWindowSeconds);
        bool firstOver;
        TimeSpan left;
        lock (_gate)
        {
            if (!_windows.TryGetValue(key, out var window) || now >= window.Start + windowLength)
            {
                if (window is null && _windows.Count >= MaxTrackedAddresses)
                {
                    DropExpired(now, windowLength);
                    if (_windows.Count >= MaxTrackedAddresses)
                    {
                        key = Overflow;
                        _windows.TryGetValue(key, out window);
                    }
                }

                if (window is null || now >= window.Start + windowLength)
                {
                    window = new Window(now);
                    _windows[key] = window;
                }
            }

            window.Failures++;
            if (window.Failures <= limits.MaxFailedKeyAttempts)
            {
                return null;
            }

            firstOver = !window.Reported;
            window.Reported = true;
            left = window.Start + windowLength - now;
        }

        if (firstOver)
        {
            // Once per window: a guesser at thousands of attempts a second must not flood the log as well.
            GatewayLog.FailedKeysLimited(logger, key == Overflow ? "(many addresses)" : key.ToString(), limits.MaxFailedKeyAttempts, limits.FailedKeyWindowSeconds, Math.Ceiling(left.TotalSeconds));
        }

        return left > TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1);
    }

    private void DropExpired(DateTimeOffset now, TimeSpan windowLength)
    {
        foreach (var (address, window) in _windows)
        {
            if (now >= window.Start + windowLength)
            {
                _windows.Remove(address);
            }
        }
    }

    private static IPAddress Normalize(IPAddress? address) => address switch
    {
        null => IPAddress.None,
        { IsIPv4MappedToIPv6: true } => address.MapToIPv4(),
        _ => address,
    };

    private sealed class Window(DateTimeOffset start)
    {
        public DateTimeOffset Start { get; } = start;

        public int Failures { get; set; }

        public bool Reported { get; set; }
    }
}
