using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using LlamaGateway.Forwarding;
using LlamaGateway.Upstreams;

namespace LlamaGateway.SlotPersistence;

/// <summary>
/// llama-server's slot persistence calls: <c>POST /slots/{id}?action=save|restore</c> with <c>{"filename": ...}</c>,
/// which write or read <c>--slot-save-path</c>/filename. Each call has its own timeout and never throws: a slot
/// save or restore is an optimization, and its failure must cost the request at most a cold prefill. These calls do
/// not go through the instance's probe pipeline (<c>UpstreamCallPipelines</c>): its per-attempt timeout is sized for
/// <c>/health</c>, not for writing gigabytes, a retry would add its delay to a waiting user's request, and a failed save
/// (a full disk) says nothing about whether the server can answer requests.
/// </summary>
internal sealed class SlotStateClient(IHttpClientFactory clients, TimeProvider time)
{
    public const string HttpClientName = UpstreamHttpClient.CallClientName;

    /// <summary>Answers are a few hundred bytes; anything larger is not llama-server's.</summary>
    private const int MaxAnswerBytes = 64 * 1024;

    public Task<SlotActionResult> SaveAsync(UpstreamInstance instance, int slot, string fileName, TimeSpan timeout, CancellationToken cancellationToken) =>
        SendAsync(instance, slot, "save", fileName, timeout, cancellationToken);

    /// <summary>
    /// As <see cref="SaveAsync"/> for a restore. <paramref name="sent"/>, when given, completes once the whole call has
    /// been written to the connection (flushed to the socket), long before llama-server answers.
    /// </summary>
    public Task<SlotActionResult> RestoreAsync(UpstreamInstance instance, int slot, string fileName, TimeSpan timeout, CancellationToken cancellationToken, TaskCompletionSource? sent = null) =>
        SendAsync(instance, slot, "restore", fileName, timeout, cancellationToken, sent);

    /// <summary>Throws <see cref="OperationCanceledException"/> only when <paramref name="cancellationToken"/> (the client) cancelled.</summary>
    private async Task<SlotActionResult> SendAsync(UpstreamInstance instance, int slot, string action, string fileName, TimeSpan timeout, CancellationToken cancellationToken, TaskCompletionSource? sent = null)
    {
        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            var uri = new Uri(instance.BaseUri, string.Create(CultureInfo.InvariantCulture, $"slots/{slot}?action={action}"));
            using var message = new HttpRequestMessage(HttpMethod.Post, uri)
            {
                // The gateway's file names are [A-Za-z0-9_.-] only, so they need no JSON escaping.
                Content = new SignallingJsonContent(Encoding.UTF8.GetBytes("{\"filename\":\"" + fileName + "\"}"), sent),
            };
            if (!string.IsNullOrEmpty(instance.Options.ApiKey))
            {
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", instance.Options.ApiKey);
            }

            using var response = await clients.CreateClient(HttpClientName).SendAsync(message, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var body = await ReadBoundedAsync(response.Content, linked.Token);
            var status = (int)response.StatusCode;
            if (response.StatusCode is HttpStatusCode.NotImplemented or HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
            {
                return SlotActionResult.Problem(SlotActionOutcome.Unsupported, $"{status}: {ErrorMessage(body)}");
            }

            if (!response.IsSuccessStatusCode)
            {
                return SlotActionResult.Problem(SlotActionOutcome.Rejected, $"{status}: {ErrorMessage(body)}");
            }

            return Parse(body, action == "save");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return SlotActionResult.Problem(SlotActionOutcome.TimedOut, $"no answer within {timeout.TotalSeconds:0.#} s (SlotSave:TimeoutSeconds)");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidDataException)
        {
            return SlotActionResult.Problem(SlotActionOutcome.Failed, ex.GetBaseException().Message);
        }
    }

    private static SlotActionResult Parse(byte[] body, bool save)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty(save ? "n_saved" : "n_restored", out var tokens) && tokens.TryGetInt32(out var tokenCount)
                && root.TryGetProperty(save ? "n_written" : "n_read", out var bytes) && bytes.TryGetInt64(out var byteCount))
            {
                var milliseconds = root.TryGetProperty("timings", out var timings) && timings.ValueKind == JsonValueKind.Object
                    && timings.TryGetProperty(save ? "save_ms" : "restore_ms", out var ms) && ms.TryGetDouble(out var value) ? value : 0;
                return new SlotActionResult(SlotActionOutcome.Done, tokenCount, byteCount, milliseconds, string.Empty);
            }
        }
        catch (JsonException)
        {
        }

        return SlotActionResult.Problem(SlotActionOutcome.Failed, $"unexpected answer: {Excerpt(body)}");
    }

    /// <summary>llama-server's <c>{"error":{"message":...}}</c>, else the start of the body.</summary>
    private static string ErrorMessage(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("error", out var error)
                && error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String)
            {
                return message.GetString()!;
            }
        }
        catch (JsonException)
        {
        }

        return Excerpt(body);
    }

    private static string Excerpt(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 200)).ReplaceLineEndings(" ");
        return text.Length == 0 ? "(empty body)" : text;
    }

    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxAnswerBytes)
            {
                throw new InvalidDataException($"answer larger than {MaxAnswerBytes} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
