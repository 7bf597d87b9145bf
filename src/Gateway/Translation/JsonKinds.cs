namespace LlamaGateway.Translation;

/// <summary>The JSON types a field accepts (null always counts as "not sent", as llama-server reads it).</summary>
[Flags]
internal enum JsonKinds : byte
{
    None = 0,
    String = 1,
    Number = 2,
    Boolean = 4,
    Object = 8,
    Array = 16,

    /// <summary>Any type: the gateway drops the field, so what it holds does not matter.</summary>
    Any = String | Number | Boolean | Object | Array,
}
