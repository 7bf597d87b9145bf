using System.Text;

namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// Deterministic normal-distribution source for weights. We implement xoshiro256** ourselves instead of using
/// System.Random because the latter's algorithm is an implementation detail that may change between .NET versions,
/// and tests rely on a given seed producing byte-identical models (and so identical generations) forever.
/// Each tensor gets its own stream derived from the seed and the tensor name, so adding or reordering tensors does
/// not change the values of the others.
/// </summary>
internal sealed class WeightRandom
{
    private ulong _s0;
    private ulong _s1;
    private ulong _s2;
    private ulong _s3;
    private double _spare;
    private bool _hasSpare;

    public WeightRandom(ulong seed, string stream)
    {
        ulong state = seed ^ Fnv1a(stream);
        _s0 = SplitMix64(ref state);
        _s1 = SplitMix64(ref state);
        _s2 = SplitMix64(ref state);
        _s3 = SplitMix64(ref state);
    }

    /// <summary>Uniform double in (0, 1]; never 0 so it is safe under Math.Log.</summary>
    public double NextUnit() => ((NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53));

    /// <summary>Standard normal sample via Box-Muller (both outputs used, so two uniforms per two samples).</summary>
    public double NextGaussian()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spare;
        }

        double radius = Math.Sqrt(-2.0 * Math.Log(NextUnit()));
        double angle = 2.0 * Math.PI * NextUnit();
        _spare = radius * Math.Sin(angle);
        _hasSpare = true;
        return radius * Math.Cos(angle);
    }

    private ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    private static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong Fnv1a(string text)
    {
        ulong hash = 0xCBF29CE484222325UL;
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 0x100000001B3UL;
        }

        return hash;
    }
}
