using System.Security.Cryptography;

namespace LlamaGateway.Translation;

/// <summary>Identifiers in the shapes Anthropic clients expect (<c>msg_...</c>, <c>toolu_...</c>).</summary>
internal static class AnthropicIds
{
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static string NewMessageId() => Create("msg_");

    public static string NewToolUseId() => Create("toolu_");

    private static string Create(string prefix)
    {
        return string.Create(prefix.Length + 24, prefix, static (chars, p) =>
        {
            p.AsSpan().CopyTo(chars);
            Span<byte> random = stackalloc byte[24];
            RandomNumberGenerator.Fill(random);
            for (var i = 0; i < random.Length; i++)
            {
                chars[p.Length + i] = Alphabet[random[i] % Alphabet.Length];
            }
        });
    }
}
