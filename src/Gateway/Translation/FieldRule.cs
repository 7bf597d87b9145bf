namespace LlamaGateway.Translation;

/// <summary>
/// How the gateway treats one known top-level field of a route's body: the JSON types it accepts, what the gateway
/// does with it, and for numbers the range llama-server accepts (a hard limit there is an error, a value beyond int32
/// an undefined cast) or, for <see cref="FieldOwnership.Capped"/>, the cap.
/// </summary>
internal readonly record struct FieldRule(
    string Name,
    JsonKinds Kinds,
    FieldOwnership Ownership = FieldOwnership.Passed,
    double Min = double.NegativeInfinity,
    double Max = double.PositiveInfinity)
{
    /// <summary>False for the default value: a field the gateway does not know, which passes untouched.</summary>
    public bool IsKnown => Name is not null;

    /// <summary>"a string or an array": the accepted types, for an error message.</summary>
    public string KindsText()
    {
        var parts = new List<string>(5);
        if (Kinds.HasFlag(JsonKinds.String))
        {
            parts.Add("a string");
        }

        if (Kinds.HasFlag(JsonKinds.Number))
        {
            parts.Add(Ownership == FieldOwnership.OutputLimit ? "an integer" : "a number");
        }

        if (Kinds.HasFlag(JsonKinds.Boolean))
        {
            parts.Add(parts.Count == 0 && Kinds == JsonKinds.Boolean ? "true or false" : "a boolean");
        }

        if (Kinds.HasFlag(JsonKinds.Object))
        {
            parts.Add("an object");
        }

        if (Kinds.HasFlag(JsonKinds.Array))
        {
            parts.Add("an array");
        }

        return parts.Count switch
        {
            1 => parts[0],
            _ => string.Join(", ", parts[..^1]) + " or " + parts[^1],
        };
    }
}
