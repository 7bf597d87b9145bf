namespace LlamaGateway.Status;

/// <summary><c>Gateway:Status</c>: the dashboard's history of cache use.</summary>
internal sealed class StatusOptions
{
    public const string SectionName = "Gateway:Status";

    /// <summary>One point of the cache-use chart per this many seconds.</summary>
    public double SampleSeconds { get; set; } = 10;

    /// <summary>How far back the chart goes (minutes); older points are dropped.</summary>
    public double HistoryMinutes { get; set; } = 60;

    /// <summary>Points kept: the history divided into samples.</summary>
    public int Capacity => (int)Math.Ceiling(HistoryMinutes * 60 / SampleSeconds);
}
