namespace LlamaGateway.Tests.Reliability;

/// <summary>The three ways a model response travels through the gateway.</summary>
public enum StreamPath
{
    /// <summary>Anthropic client, OpenAI-dialect llama-server: chat completions translated to Anthropic events.</summary>
    TranslatedAnthropic,

    /// <summary>OpenAI client, OpenAI-dialect upstream: events passed through as they are.</summary>
    OpenAiPassThrough,

    /// <summary>Anthropic client, Anthropic-dialect upstream: events passed through as they are.</summary>
    AnthropicPassThrough,
}
