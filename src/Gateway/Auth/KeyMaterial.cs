using System.Security.Cryptography;
using System.Text;

namespace LlamaGateway.Auth;

/// <summary>
/// Turns one configured key (plain, hex SHA-256 or environment variable) into the SHA-256 digest the gateway keeps.
/// Only digests are kept, so a key never sits in memory longer than start-up and a request.
/// </summary>
internal static class KeyMaterial
{
    /// <summary>Keys shorter than this are refused: a short key can be guessed online.</summary>
    public const int MinimumKeyLength = 8;

    /// <summary>
    /// Resolves the digest for the key configured under <paramref name="key"/> (e.g. <c>Gateway:Users:0</c>) with the
    /// given property names. Returns null and an error naming the configuration key when the entry is not usable.
    /// </summary>
    public static byte[]? Resolve(string key, string plainName, string? plain, string hashName, string? sha256, string envName, string? env,
        Func<string, string?> getEnvironmentVariable, out string? error)
    {
        var forms = (string.IsNullOrEmpty(plain) ? 0 : 1) + (string.IsNullOrEmpty(sha256) ? 0 : 1) + (string.IsNullOrEmpty(env) ? 0 : 1);
        if (forms != 1)
        {
            error = forms == 0
                ? $"{key} has no key: set exactly one of {key}:{plainName}, {key}:{hashName} (hex SHA-256) or {key}:{envName} (an environment variable name)"
                : $"{key} sets more than one of {plainName}, {hashName} and {envName}: set exactly one";
            return null;
        }

        if (!string.IsNullOrEmpty(sha256))
        {
            var digest = ParseHex(sha256.Trim());
            error = digest is null ? $"{key}:{hashName} must be 64 hexadecimal characters (a SHA-256 digest), got {sha256.Length} characters" : null;
            return digest;
        }

        var value = plain;
        var source = $"{key}:{plainName}";
        if (!string.IsNullOrEmpty(env))
        {
            value = getEnvironmentVariable(env);
            source = $"environment variable {env} (named by {key}:{envName})";
            if (string.IsNullOrEmpty(value))
            {
                error = $"{key}:{envName} names environment variable {env}, which is not set or empty";
                return null;
            }
        }

        value = value!.Trim();
        if (value.Length < MinimumKeyLength)
        {
            error = $"The key in {source} is shorter than {MinimumKeyLength} characters; use a long random key (e.g. openssl rand -hex 24)";
            return null;
        }

        error = null;
        return Digest(value);
    }

    public static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    private static byte[]? ParseHex(string hex)
    {
        if (hex.Length != 64)
        {
            return null;
        }

        try
        {
            return Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
