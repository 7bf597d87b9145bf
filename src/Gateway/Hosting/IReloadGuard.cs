namespace LlamaGateway.Hosting;

/// <summary>
/// A rule a configuration reload must pass beside validation: it compares the valid new value with the one in force
/// and refuses changes that must not happen while running (a restart may still make them). A refusal keeps the whole
/// last good configuration, as a validation error does (<see cref="ConfigurationReloadGate"/>).
/// </summary>
internal interface IReloadGuard<in TOptions>
    where TOptions : class
{
    /// <summary>Null to allow the change; otherwise what it would have done and how to do it on purpose.</summary>
    string? Refuse(TOptions current, TOptions next);
}
