using System.Net.Sockets;
using System.Reflection;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using Serilog.Events;

namespace LlamaGateway.Hosting;

/// <summary>
/// Turns a start-up failure into the message a user can act on: invalid options (every failure, each naming its key),
/// a value of the wrong type, an unreadable configuration file, a listen address that is invalid or in use, an endpoint Kestrel refuses. Anything
/// else is a bug and keeps its stack trace.
/// </summary>
internal static class StartupFailure
{
    /// <summary>The message for a failure the user can fix, or null for an unexpected one.</summary>
    public static string? Describe(Exception exception)
    {
        var failure = Unwrap(exception);
        switch (failure)
        {
            case GatewayStartupException startup:
                return startup.Message;
            case OptionsValidationException options:
                return "Invalid configuration:" + string.Concat(options.Failures.Select(f => Environment.NewLine + "  - " + f));
            case IOException io when Find<AddressInUseException>(io) is not null:
                return $"{io.Message} Another process is listening there: stop it, or choose another address with --urls (e.g. --urls http://127.0.0.1:8090).";
            case IOException or UnauthorizedAccessException or SocketException:
                return ReloadTolerantJsonConfigurationSource.Provider.Reason(failure);
            case InvalidOperationException when ThrownBy(failure, "Microsoft.Extensions.Configuration.Binder", "Serilog.Settings.Configuration"):
                // A value of the wrong type ("Failed to convert configuration value 'x' at 'Gateway:...'"), or an unknown log level.
                return "Invalid configuration: " + failure.Message;
            case InvalidOperationException when ThrownBy(failure, "Microsoft.AspNetCore.Server.Kestrel"):
                // Kestrel refusing its endpoint configuration (e.g. https:// without a certificate) says why.
                return failure.Message;
            default:
                return null;
        }
    }

    /// <summary>
    /// The host logs a start-up failure with its stack trace before rethrowing it (and the web host logs a failure to
    /// build the pipeline); <see cref="GatewayEntryPoint"/> prints the same failure itself, so these events are dropped.
    /// </summary>
    public static bool IsHostStartupFault(LogEvent logEvent) =>
        logEvent.Exception is not null
        && logEvent.Properties.TryGetValue("EventId", out var id)
        && id is StructureValue eventId
        && eventId.Properties.Any(p => p.Name == "Name" && p.Value is ScalarValue { Value: "HostedServiceStartupFaulted" or "ApplicationStartupException" });

    /// <summary>Whether the exception was thrown in an assembly whose name starts with one of <paramref name="assemblies"/>.</summary>
    private static bool ThrownBy(Exception exception, params string[] assemblies)
    {
        var name = exception.TargetSite?.DeclaringType?.Assembly.GetName().Name;
        return name is not null && assemblies.Any(a => name.StartsWith(a, StringComparison.Ordinal));
    }

    private static Exception Unwrap(Exception exception)
    {
        while (true)
        {
            switch (exception)
            {
                case AggregateException { InnerExceptions.Count: 1 } aggregate:
                    exception = aggregate.InnerExceptions[0];
                    break;
                case TargetInvocationException { InnerException: { } inner }:
                    exception = inner;
                    break;
                default:
                    return exception;
            }
        }
    }

    private static T? Find<T>(Exception exception)
        where T : Exception
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }

        return null;
    }
}
