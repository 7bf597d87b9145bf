using System.Security.Cryptography;
using System.Text;

namespace LlamaGateway.Auth;

/// <summary>
/// The configured keys as SHA-256 digests, immutable, so a configuration reload swaps the whole set at once.
/// A presented key is hashed and compared with every digest in constant time: comparing digests (fixed length)
/// rather than keys hides the key length, and scanning all entries hides which one matched.
/// </summary>
internal sealed class KeySet
{
    /// <summary>The name requests authenticated with the admin key carry; parentheses keep it apart from user names.</summary>
    public const string AdminName = "(admin)";

    private readonly (string Name, byte[] Digest)[] _users;
    private readonly byte[]? _admin;

    public KeySet(IReadOnlyList<(string Name, byte[] Digest)> users, byte[]? admin)
    {
        _users = [.. users];
        _admin = admin;
        UserNames = Array.ConvertAll(_users, u => u.Name);
    }

    public static KeySet Empty { get; } = new([], null);

    /// <summary>No users: the model API accepts anyone.</summary>
    public bool IsOpen => _users.Length == 0;

    /// <summary>Whether any key (user or admin) is configured; with none, the dashboard and metrics are open too.</summary>
    public bool HasAnyKey => _users.Length > 0 || _admin is not null;

    public bool HasAdminKey => _admin is not null;

    public IReadOnlyList<string> UserNames { get; }

    /// <summary>Whether <paramref name="other"/> holds the same users with the same keys and the same admin key.</summary>
    public bool HasSameKeys(KeySet other) =>
        _users.Length == other._users.Length
        && _users.Zip(other._users).All(p => p.First.Name == p.Second.Name && p.First.Digest.AsSpan().SequenceEqual(p.Second.Digest))
        && (_admin is null ? other._admin is null : other._admin is not null && _admin.AsSpan().SequenceEqual(other._admin));

    /// <summary>The user or admin the key belongs to, or null.</summary>
    public AuthenticatedUser? Authenticate(string presented)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        var bytes = Encoding.UTF8.GetBytes(presented.Trim());
        SHA256.HashData(bytes, digest);
        CryptographicOperations.ZeroMemory(bytes);

        var match = -1;
        for (var i = 0; i < _users.Length; i++)
        {
            // No early exit: the time taken must not depend on which entry matched.
            if (CryptographicOperations.FixedTimeEquals(digest, _users[i].Digest))
            {
                match = i;
            }
        }

        var admin = _admin is not null && CryptographicOperations.FixedTimeEquals(digest, _admin);
        if (admin)
        {
            return new AuthenticatedUser(AdminName, IsAdmin: true);
        }

        return match >= 0 ? new AuthenticatedUser(_users[match].Name, IsAdmin: false) : null;
    }
}
