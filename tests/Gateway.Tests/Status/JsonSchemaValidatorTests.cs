using System.Text.Json;

namespace LlamaGateway.Tests.Status;

public sealed class JsonSchemaValidatorTests
{
    private static readonly JsonSchemaValidator Validator = new(JsonDocument.Parse("""
        {
          "type": "object", "required": ["a", "b", "when"], "additionalProperties": false,
          "properties": {
            "a": { "type": "integer", "minimum": 0 },
            "b": { "type": ["string", "null"], "enum": ["x", "y", null] },
            "when": { "type": "string", "format": "date-time" },
            "list": { "type": "array", "items": { "$ref": "#/$defs/item" } }
          },
          "$defs": { "item": { "type": "object", "required": ["r"], "additionalProperties": false, "properties": { "r": { "type": "number", "maximum": 1 } } } }
        }
        """).RootElement);

    [Fact]
    public void Validate_ConformingDocument_NoErrors()
    {
        Assert.Empty(Validator.Validate(JsonDocument.Parse("""{"a":1,"b":null,"when":"2026-11-21T10:00:00.5+00:00","list":[{"r":0.5}]}""").RootElement));
    }

    [Theory]
    [InlineData("""{"b":"x","when":"2026-11-21T10:00:00Z"}""", "missing required property 'a'")]
    [InlineData("""{"a":1.5,"b":"x","when":"2026-11-21T10:00:00Z"}""", "expected integer")]
    [InlineData("""{"a":-1,"b":"x","when":"2026-11-21T10:00:00Z"}""", "below the minimum")]
    [InlineData("""{"a":1,"b":"z","when":"2026-11-21T10:00:00Z"}""", "is not one of")]
    [InlineData("""{"a":1,"b":"x","when":"yesterday"}""", "date-time")]
    [InlineData("""{"a":1,"b":"x","when":"2026-11-21T10:00:00Z","extra":true}""", "not in the schema")]
    [InlineData("""{"a":1,"b":"x","when":"2026-11-21T10:00:00Z","list":[{"r":2}]}""", "$.list[0].r")]
    [InlineData("""{"a":1,"b":"x","when":"2026-11-21T10:00:00Z","list":[{}]}""", "missing required property 'r'")]
    public void Validate_Violation_IsReported(string json, string expected)
    {
        var errors = Validator.Validate(JsonDocument.Parse(json).RootElement);

        Assert.Contains(errors, e => e.Contains(expected, StringComparison.Ordinal));
    }
}
