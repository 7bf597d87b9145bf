using System.Text;

namespace LlamaGateway.EndToEnd.Support;

/// <summary>
/// A system prompt of varied made-up words (about two tokens each), seeded per conversation: two conversations share
/// nothing past the first words, and each one repeats its own exactly, so the measured reuse is the slot's doing.
/// </summary>
internal static class SyntheticPrompt
{
    private static readonly string[] Syllables = ["ka", "lo", "mi", "ret", "sun", "tor", "vel", "qua", "zen", "dri", "pol", "fen", "gra", "hu", "jin", "wex"];

    public static string System(string conversation, int words)
    {
        var random = new Random(conversation.GetHashCode(StringComparison.Ordinal) & 0x7FFF);
        var text = new StringBuilder($"You are the coding assistant of project {conversation}.\n");
        for (var word = 0; word < words; word++)
        {
            var length = random.Next(1, 4);
            for (var s = 0; s < length; s++)
            {
                text.Append(Syllables[random.Next(Syllables.Length)]);
            }

            text.Append(word % 17 == 16 ? ".\n" : " ");
        }

        return text.ToString();
    }
}
