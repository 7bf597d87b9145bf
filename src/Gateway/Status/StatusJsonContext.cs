using System.Text.Json.Serialization;

namespace LlamaGateway.Status;

/// <summary>Source-generated serialization of the status document: no reflection, and nulls are written, so every
/// property is always present as the schema promises.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(StatusDocument))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
