using System.Text;
using System.Text.Json.Nodes;
using LlamaGateway.Conversations;
using LlamaGateway.Normalization;
using LlamaGateway.Pipeline;
using LlamaGateway.Tests.Normalization;
using LlamaGateway.Tests.Support;

namespace LlamaGateway.Tests.Conversations;

/// <summary>Normalizes then fingerprints, as the gateway does.</summary>
internal static class FingerprintRun
{
    public static ConversationFingerprint Of(byte[] body, ApiRoute route, NormalizationSettings settings)
    {
        var normalized = NormalizerRun.Ok(body, route, settings);
        var fingerprint = ConversationFingerprinter.Compute(normalized, route);
        Assert.NotNull(fingerprint);
        return fingerprint;
    }

    public static ConversationFingerprint Of(string json, ApiRoute route = ApiRoute.Messages) =>
        Of(Encoding.UTF8.GetBytes(json), route, NormalizerRun.Replace());

    public static ConversationFingerprint Recorded(string name, NormalizationSettings settings) =>
        Of(Fixtures.RecordedBody(name), ApiRoute.Messages, settings);

    /// <summary>A recorded body edited in test code.</summary>
    public static byte[] Edited(string name, Action<JsonNode> edit)
    {
        var node = JsonNode.Parse(Fixtures.RecordedBody(name))!;
        edit(node);
        return Encoding.UTF8.GetBytes(node.ToJsonString());
    }
}
