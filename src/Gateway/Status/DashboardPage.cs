using System.Security.Cryptography;
using System.Text;

namespace LlamaGateway.Status;

/// <summary>
/// <c>GET /status</c>: the team dashboard, one self-contained page (no external assets: the team may be offline)
/// that polls <c>/status.json</c>. The page itself holds no data, so it is served to anyone; the data needs a key,
/// which the page asks for, keeps in sessionStorage and sends as a header. <c>/status#key=...</c> works for links:
/// a fragment never reaches the server, so the key cannot end up in a request log as a query string would.
/// </summary>
internal static class DashboardPage
{
    /// <summary>The page's own CSP: only its inline style and script (by hash) and fetches to this origin.</summary>
    public static string ContentSecurityPolicy { get; } =
        $"default-src 'none'; style-src '{Hash(Style)}'; script-src '{Hash(Script)}'; connect-src 'self'; img-src data:; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly byte[] Page = Encoding.UTF8.GetBytes(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n" +
        "<title>llama-gateway status</title>\n<link rel=\"icon\" href=\"data:,\">\n<style>" + Style + "</style>\n</head>\n" + Body + "<script>" + Script + "</script>\n</html>\n");

    public static Task WriteAsync(HttpContext http)
    {
        var response = http.Response;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.ContentLength = Page.Length;
        return response.Body.WriteAsync(Page, http.RequestAborted).AsTask();
    }

    private static string Hash(string inline) => "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(inline)));

    private const string Style = """

:root {
  --bg: #f4f6f9; --card: #ffffff; --ink: #1d2330; --muted: #687385; --line: #e3e7ee;
  --accent: #2f6fed; --good: #1f9d55; --warn: #d97706; --bad: #d64545; --side: #7c5cd6;
  --busy: #2f6fed; --warm: #e6f4ec; --cold: #f1f3f6;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; background: var(--bg); color: var(--ink); }
header { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; padding: 12px 24px; background: #151a24; color: #fff; }
header h1 { font-size: 18px; margin: 0; font-weight: 650; letter-spacing: .2px; }
header .spacer { flex: 1; }
header .meta { color: #aab3c2; font-size: 12px; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 999px; font-size: 11px; font-weight: 700; letter-spacing: .4px; text-transform: uppercase; }
.badge.open { background: #fde7c7; color: #8a4b00; }
.badge.secured { background: #cfeedd; color: #145c36; }
.badge.viewer { background: #2a3345; color: #d7deea; }
button { font: inherit; border: 1px solid var(--line); background: #fff; color: var(--ink); border-radius: 6px; padding: 5px 12px; cursor: pointer; }
header button { background: transparent; color: #d7deea; border-color: #3a4458; }
main { padding: 18px 24px 32px; max-width: 1400px; margin: 0 auto; }
.banner { margin: 12px 24px 0; padding: 9px 14px; border-radius: 8px; font-size: 13px; }
.banner.warn { background: #fff4e0; border: 1px solid #f3d19c; color: #7a4a00; }
.banner.bad { background: #fdeaea; border: 1px solid #f1b5b5; color: #8c1d1d; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-bottom: 18px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 22px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 12px; }
section.panel { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; margin-bottom: 18px; }
section.panel h2 { font-size: 15px; margin: 0 0 10px; display: flex; align-items: baseline; gap: 10px; }
section.panel h2 .hint { color: var(--muted); font-weight: 400; font-size: 12px; }
.grid2 { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap: 18px; }
@media (max-width: 1000px) { .grid2 { grid-template-columns: 1fr; } }
.legend { display: flex; gap: 16px; font-size: 12px; color: var(--muted); margin-top: 4px; }
.legend i { display: inline-block; width: 14px; height: 4px; border-radius: 2px; margin-right: 6px; vertical-align: middle; }
.legend .ratio { background: var(--good); }
.legend .recomputed { background: #f0a35e; height: 10px; }
svg text { font-size: 11px; fill: var(--muted); }
.instances { display: grid; gap: 14px; }
.instance { border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
.instance .head { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; margin-bottom: 10px; }
.instance .name { font-weight: 650; font-size: 14px; }
.dot { width: 9px; height: 9px; border-radius: 50%; display: inline-block; }
.dot.up { background: var(--good); box-shadow: 0 0 0 3px #d8f1e3; }
.dot.down { background: var(--bad); box-shadow: 0 0 0 3px #f8dcdc; }
.chip { background: #eef1f6; color: #3d4657; border-radius: 5px; padding: 1px 7px; font-size: 12px; }
.error-text { color: var(--bad); font-size: 12px; }
.slots { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 8px; }
.slot { border: 1px solid var(--line); border-radius: 7px; padding: 8px 10px; background: var(--cold); font-size: 12px; min-height: 76px; }
.slot.warm { background: var(--warm); border-color: #bfe3cd; }
.slot.busy { background: #e5edff; border-color: #9db9f5; }
.slot.side { border-style: dashed; border-color: #b6a5ea; }
.slot .top { display: flex; justify-content: space-between; font-weight: 650; margin-bottom: 3px; }
.slot .state { font-weight: 600; font-size: 11px; text-transform: uppercase; letter-spacing: .4px; }
.slot.busy .state { color: var(--busy); }
.slot.warm .state { color: var(--good); }
.slot .state.idle { color: var(--muted); }
.slot .tag { color: var(--side); font-size: 10px; font-weight: 700; text-transform: uppercase; margin-left: 6px; }
.slot .line { color: #3d4657; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.slot .muted, .muted { color: var(--muted); }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; color: var(--muted); font-weight: 600; font-size: 12px; border-bottom: 1px solid var(--line); padding: 6px 8px; white-space: nowrap; }
td { border-bottom: 1px solid #f0f2f6; padding: 6px 8px; font-variant-numeric: tabular-nums; vertical-align: top; }
td.num, th.num { text-align: right; }
td.msg { max-width: 520px; overflow-wrap: anywhere; }
tr:last-child td { border-bottom: none; }
.bar { display: inline-block; width: 60px; height: 6px; background: #eef1f6; border-radius: 3px; vertical-align: middle; margin-left: 6px; overflow: hidden; }
.bar > span { display: block; height: 100%; background: var(--good); }
.empty { color: var(--muted); font-style: italic; padding: 6px 0; }
.status-4xx { color: var(--warn); font-weight: 600; }
.status-5xx { color: var(--bad); font-weight: 600; }
.kv { display: grid; grid-template-columns: auto 1fr; gap: 4px 14px; font-size: 13px; }
.kv div:nth-child(odd) { color: var(--muted); }
#login { max-width: 420px; margin: 60px auto; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 22px; }
#login h2 { margin: 0 0 6px; font-size: 17px; }
#login p { color: var(--muted); margin: 0 0 14px; }
#login input { width: 100%; font: inherit; padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px; margin-bottom: 10px; }
#login .error-text { margin-bottom: 10px; }
section.panel h2.sub-h { margin-top: 18px; }
[hidden] { display: none !important; }

""";

    private const string Body = """
<body>
<header>
  <h1>llama-gateway</h1>
  <span id="mode" class="badge"></span>
  <span id="viewer" class="badge viewer" hidden></span>
  <span class="spacer"></span>
  <span id="updated" class="meta">connecting…</span>
  <button id="logout" type="button" hidden>Sign out</button>
</header>
<div id="banner" class="banner" hidden></div>
<form id="login" hidden autocomplete="off">
  <h2>Sign in to the gateway status</h2>
  <p>Paste your gateway API key (the one Claude Code uses), or the admin key for the full view. It stays in this browser tab.</p>
  <div id="login-error" class="error-text" hidden></div>
  <input id="key" type="password" placeholder="API key" autocomplete="off" spellcheck="false" required>
  <button type="submit">Show status</button>
</form>
<main id="main" hidden>
  <div class="cards" id="cards"></div>
  <div class="grid2">
    <section class="panel" id="chart-panel">
      <h2>Cache use over time <span class="hint" id="chart-hint"></span></h2>
      <svg id="chart" viewBox="0 0 900 240" width="100%" role="img" aria-label="Cache hit ratio and tokens re-computed over time"></svg>
      <div class="legend"><span><i class="ratio"></i>cache hit ratio (left axis)</span><span><i class="recomputed"></i>tokens re-computed per interval (right axis)</span></div>
    </section>
    <section class="panel" id="side-panel">
      <h2>Side lane <span class="hint">quota probes, titles, short tool-less requests</span></h2>
      <div class="kv" id="side"></div>
      <h2 class="sub-h">Limits &amp; access</h2>
      <div class="kv" id="limits"></div>
    </section>
  </div>
  <section class="panel"><h2>Instances <span class="hint" id="instances-hint"></span></h2><div class="instances" id="instances"></div></section>
  <section class="panel"><h2>Users <span class="hint" id="users-hint"></span></h2><div id="users"></div></section>
  <section class="panel"><h2>Conversations <span class="hint" id="conversations-hint"></span></h2><div id="conversations"></div></section>
  <section class="panel"><h2>Recent errors <span class="hint" id="errors-hint"></span></h2><div id="errors"></div></section>
</main>

""";

    private const string Script = """

"use strict";
(() => {
  const REFRESH_MS = 3000;
  const KEY_ITEM = "llamaGatewayKey";
  const $ = (id) => document.getElementById(id);
  let timer = null;

  // A key may arrive in the fragment (/status#key=...): fragments never reach the server or its logs.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("key")) {
    sessionStorage.setItem(KEY_ITEM, fragment.get("key"));
    history.replaceState(null, "", location.pathname);
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [name, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (name === "class") node.className = value; else node.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const svgNs = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const node = document.createElementNS(svgNs, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const int = (n) => (n === null || n === undefined) ? "–" : Number(n).toLocaleString("en-US");
  function compact(n) {
    if (n === null || n === undefined) return "–";
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(1) + "B";
    if (a >= 1e6) return (n / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (n / 1e3).toFixed(1) + "K";
    return int(n);
  }
  const pct = (r) => (r === null || r === undefined) ? "–" : (r * 100).toFixed(1) + "%";
  function duration(s) {
    if (s === null || s === undefined) return "–";
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
  }
  const ago = (s) => (s === null || s === undefined) ? "unused" : duration(s) + " ago";
  const clock = (iso) => new Date(iso).toLocaleTimeString("en-GB", { hour12: false });

  function ratioCell(r) {
    const bar = el("span", { class: "bar" }, el("span"));
    bar.firstChild.style.width = r === null ? "0" : Math.round(r * 100) + "%";
    return el("td", { class: "num" }, pct(r), bar);
  }

  function table(columns, rows, emptyText) {
    if (rows.length === 0) return el("div", { class: "empty" }, emptyText);
    return el("table", null,
      el("thead", null, el("tr", null, columns.map((c) => el("th", { class: c.num ? "num" : null }, c.title)))),
      el("tbody", null, rows.map((row) => el("tr", null, columns.map((c) => {
        const value = c.cell(row);
        return value instanceof Node && value.tagName === "TD" ? value : el("td", { class: c.num ? "num" : c.cls || null }, value);
      })))));
  }

  function card(label, value, sub) {
    return el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value), sub ? el("div", { class: "sub" }, sub) : null);
  }

  function renderCards(s) {
    const t = s.totals;
    $("cards").replaceChildren(
      card("Requests", int(t.requests), Math.max(0, t.failures - t.cancelled) + " failed, " + t.cancelled + " cancelled"),
      card("Cache hit ratio", pct(t.cacheHitRatio), "of " + compact(t.promptTokens) + " prompt tokens"),
      card("Tokens from cache", compact(t.cachedTokens), "not re-computed"),
      card("Tokens re-computed", compact(t.recomputedTokens), compact(t.outputTokens) + " generated"),
      card("Prefill time saved", duration(t.secondsSaved), t.conversations + " conversations"),
      card("Slots busy", t.busySlots + " / " + t.slots, t.healthyInstances + " of " + t.instances + " instances healthy"),
      card("Waiting for a slot", int(t.queueLength), "requests queued"));
  }

  // Rounds an axis maximum up to 1, 2, 4 or 5 times a power of ten, so quarter ticks are round numbers.
  function niceCeiling(n) {
    if (n <= 4) return 4;
    const power = Math.pow(10, Math.floor(Math.log10(n)));
    for (const step of [1, 2, 4, 5, 10]) if (step * power >= n) return step * power;
    return 10 * power;
  }

  function renderChart(s) {
    const chart = $("chart");
    const W = 900, H = 240, L = 46, R = 58, T = 12, B = 26;
    const pw = W - L - R, ph = H - T - B;
    const points = s.series.points.slice();
    if (s.series.current && s.series.current.seconds >= 1) points.push(s.series.current);
    const nodes = [];
    const interval = s.series.intervalSeconds * 1000;
    const end = points.length ? Date.parse(points[points.length - 1].at) : Date.parse(s.generatedAt);
    const first = points.length ? Date.parse(points[0].at) : end;
    const span = Math.max(end - first + interval, interval * 12);
    const start = end - span;
    const x = (t) => L + ((t - start) / span) * pw;
    const observed = Math.max(0, ...points.map((p) => p.recomputedTokens));
    const maxRecomputed = niceCeiling(observed);
    const yRatio = (r) => T + ph - r * ph;
    const yTokens = (n) => T + ph - (n / maxRecomputed) * ph;

    for (const r of [0, 0.25, 0.5, 0.75, 1]) {
      nodes.push(svg("line", { x1: L, x2: W - R, y1: yRatio(r), y2: yRatio(r), stroke: "#e9edf3" }));
      nodes.push(svg("text", { x: L - 6, y: yRatio(r) + 4, "text-anchor": "end" }, Math.round(r * 100) + "%"));
      if (observed > 0) nodes.push(svg("text", { x: W - R + 6, y: yRatio(r) + 4 }, compact(Math.round(maxRecomputed * r))));
    }

    const barWidth = Math.max(2, Math.min(26, (interval / span) * pw * 0.7));
    for (const p of points) {
      if (p.recomputedTokens <= 0) continue;
      const cx = x(Date.parse(p.at) - interval / 2);
      const top = yTokens(p.recomputedTokens);
      const bar = svg("rect", { x: cx - barWidth / 2, y: top, width: barWidth, height: Math.max(1, T + ph - top), rx: 2, fill: "#f0a35e", opacity: 0.85 });
      bar.append(svg("title", {}, clock(p.at) + ": " + int(p.recomputedTokens) + " tokens re-computed"));
      nodes.push(bar);
    }

    let path = "";
    let pen = false;
    const dots = [];
    for (const p of points) {
      if (p.cacheHitRatio === null) { pen = false; continue; }
      const px = x(Date.parse(p.at) - interval / 2), py = yRatio(p.cacheHitRatio);
      path += (pen ? "L" : "M") + px.toFixed(1) + " " + py.toFixed(1) + " ";
      pen = true;
      const dot = svg("circle", { cx: px, cy: py, r: 3, fill: "#1f9d55" });
      dot.append(svg("title", {}, clock(p.at) + ": " + pct(p.cacheHitRatio) + " from cache"));
      dots.push(dot);
    }
    if (path) nodes.push(svg("path", { d: path, fill: "none", stroke: "#1f9d55", "stroke-width": 2.5, "stroke-linejoin": "round" }));
    nodes.push(...dots);

    nodes.push(svg("line", { x1: L, x2: W - R, y1: T + ph, y2: T + ph, stroke: "#c9d0db" }));
    for (const f of [0, 0.5, 1]) {
      const t = start + f * span;
      nodes.push(svg("text", { x: L + f * pw, y: H - 6, "text-anchor": f === 0 ? "start" : f === 1 ? "end" : "middle" }, clock(new Date(t).toISOString())));
    }
    const empty = !points.some((p) => p.requests > 0) ? "No traffic yet"
      : !points.some((p) => p.promptTokens > 0) ? "No token counts reported by the upstreams yet" : null;
    if (empty) nodes.push(svg("text", { x: L + pw / 2, y: T + ph / 2, "text-anchor": "middle" }, empty));
    chart.replaceChildren(...nodes);
    $("chart-hint").textContent = "one point per " + s.series.intervalSeconds + " s, last " + Math.round(s.series.historySeconds / 60) + " min";
  }

  function renderInstances(s) {
    $("instances-hint").textContent = s.instances.length + " llama-server instance" + (s.instances.length === 1 ? "" : "s");
    $("instances").replaceChildren(...s.instances.map((i) => el("div", { class: "instance" },
      el("div", { class: "head" },
        el("span", { class: "dot " + (i.healthy ? "up" : "down"), title: i.healthy ? "healthy" : "unhealthy" }),
        el("span", { class: "name" }, i.name),
        el("span", { class: "chip" }, i.model || "model unknown"),
        el("span", { class: "chip" }, i.dialect),
        el("span", { class: "chip" }, i.busySlots + "/" + i.slotCount + " slots busy"),
        el("span", { class: "chip" }, i.queued + " queued"),
        el("span", { class: "chip" }, i.prefillTokensPerSecond > 0 ? Math.round(i.prefillTokensPerSecond).toLocaleString("en-US") + " tok/s prefill" : "prefill speed not measured yet"),
        i.prefillPauses > 0 ? el("span", { class: "chip", title: "long prefills paused (cancelled upstream, then sent again) so shorter prompts above them got their first token sooner" },
          i.prefillPauses.toLocaleString("en-US") + " pauses for shorter prompts (" + i.prefillPausedSeconds.toLocaleString("en-US", { maximumFractionDigits: 1 }) + " s)") : null,
        i.chunkedPrefills > 0 ? el("span", { class: "chip", title: "long prompts prefilled in chunks that gave way to shorter prompts between them" },
          i.chunkedPrefills.toLocaleString("en-US") + " chunked prefills (" + i.prefillChunks.toLocaleString("en-US") + " chunks, gave way " + i.chunkYieldSeconds.toLocaleString("en-US", { maximumFractionDigits: 1 }) + " s)") : null,
        i.slotSave ? slotSaveChip(i.slotSave) : null,
        el("span", { class: "muted" }, i.baseUrl)),
      i.lastError ? el("div", { class: "error-text" }, "Last error: " + i.lastError) : null,
      el("div", { class: "slots" }, i.slots.map(slotTile)))));
  }

  function slotSaveChip(v) {
    const mib = (bytes) => (bytes / 1048576).toLocaleString("en-US", { maximumFractionDigits: 1 });
    if (!v.supported) {
      return el("span", { class: "chip", title: v.unsupportedReason || "" }, "slot save unsupported (start llama-server with --slot-save-path)");
    }
    return el("span", { class: "chip", title: int(v.tokensRestored) + " tokens restored; " + int(v.saveFailures) + " failed saves, " + int(v.restoreFailures) +
        " failed restores, " + int(v.skipped) + " not saved (disk budget)" },
      "slot save: " + int(v.saves) + " saved, " + int(v.restores) + " restored, " + int(v.files) + " files, " + mib(v.bytesOnDisk) + " of " + mib(v.maxDiskBytes) + " MiB");
  }

  function slotTile(slot) {
    const warm = !slot.busy && slot.cachedTokens > 0;
    const cls = "slot" + (slot.busy ? " busy" : warm ? " warm" : "") + (slot.sideLane ? " side" : "");
    return el("div", { class: cls },
      el("div", { class: "top" },
        el("span", null, "#" + slot.index, slot.sideLane ? el("span", { class: "tag" }, "side lane") : null),
        el("span", { class: "state" + (slot.busy || warm ? "" : " idle") }, slot.busy ? "busy" : warm ? "warm" : "idle")),
      el("div", { class: "line" }, slot.user ? "user " + slot.user : el("span", { class: "muted" }, "no user")),
      el("div", { class: "line" }, slot.conversation ? "conv " + slot.conversation : el("span", { class: "muted" }, slot.sideLane ? "side requests" : "no conversation")),
      el("div", { class: "line muted", title: int(slot.cachedTokens) + " tokens cached; " + int(slot.requests) + " requests served" },
        compact(slot.cachedTokens) + " cached · " + (slot.busy ? "running" : ago(slot.idleSeconds))));
  }

  function renderUsers(s) {
    $("users-hint").textContent = s.viewer.full ? "everyone" : "your own usage";
    $("users").replaceChildren(table([
      { title: "User", cell: (u) => u.name },
      { title: "Requests", num: true, cell: (u) => int(u.requests) },
      { title: "Failed", num: true, cell: (u) => int(u.failures) },
      { title: "Prompt tokens", num: true, cell: (u) => compact(u.promptTokens) },
      { title: "Cached", num: true, cell: (u) => compact(u.cachedTokens) },
      { title: "Re-computed", num: true, cell: (u) => compact(u.recomputedTokens) },
      { title: "Output", num: true, cell: (u) => compact(u.outputTokens) },
      { title: "Cache hit", num: true, cell: (u) => ratioCell(u.cacheHitRatio) },
      { title: "Time saved", num: true, cell: (u) => duration(u.secondsSaved) },
      { title: "Side", num: true, cell: (u) => int(u.sideRequests) },
      { title: "Running / queued", num: true, cell: (u) => u.active === null ? "–" : u.active + " / " + u.queued },
    ], s.users, "No users yet."));
  }

  function renderConversations(s) {
    $("conversations-hint").textContent = s.conversations.length + " shown of " + s.totals.conversations + " tracked";
    $("conversations").replaceChildren(table([
      { title: "Conversation", cell: (c) => c.id },
      { title: "User", cell: (c) => c.user || "–" },
      { title: "Pinned to", cell: (c) => c.instance ? c.instance + " #" + c.slot : "–" },
      { title: "Turns", num: true, cell: (c) => int(c.turns) },
      { title: "Cache hit", num: true, cell: (c) => ratioCell(c.cacheHitRatio) },
      { title: "Tokens saved", num: true, cell: (c) => compact(c.cachedTokens) },
      { title: "Re-computed", num: true, cell: (c) => compact(c.recomputedTokens) },
      { title: "Time saved", num: true, cell: (c) => duration(c.secondsSaved) },
      { title: "Re-pins", num: true, cell: (c) => int(c.repins) },
      { title: "Last turn", num: true, cell: (c) => ago(c.idleSeconds) },
    ], s.conversations, "No conversations yet: they appear after a Claude Code session's first turn."));
  }

  function renderSide(s) {
    const kv = (pairs) => pairs.flatMap(([k, v]) => [el("div", null, k), el("div", null, v)]);
    $("side").replaceChildren(...kv([
      ["Side-lane slots", s.sideLane.busySlots + " busy of " + s.sideLane.slots],
      ["Served on side-lane slots", int(s.sideLane.requests)],
      ["Side requests (all slots)", int(s.sideLane.sideRequests)],
    ]));
    const l = s.limits;
    $("limits").replaceChildren(...kv([
      ["Per-user cap", l.maxConcurrentRequestsPerUser > 0 ? l.maxConcurrentRequestsPerUser + " running, " + l.queueLimit + " waiting ≤ " + l.queueSeconds + " s" : "off"],
      ["Access", s.open ? "open (no keys)" : "API keys required"],
      ["Cache isolation", s.isolation === "PerUser" ? "per user (Gateway:Isolation PerUser)" : "shared prefixes (Gateway:Isolation Shared)"],
      ["Uptime", duration(s.uptimeSeconds)],
    ]));
  }

  function renderErrors(s) {
    $("errors-hint").textContent = s.recentErrors.length ? "newest first" : "";
    $("errors").replaceChildren(table([
      { title: "Time", cell: (e) => clock(e.at) },
      { title: "User", cell: (e) => e.user },
      { title: "Route", cell: (e) => e.route },
      { title: "Status", num: true, cell: (e) => el("td", { class: "num " + (e.status >= 500 ? "status-5xx" : "status-4xx") }, e.status) },
      { title: "Kind", cell: (e) => e.kind },
      { title: "Upstream", cell: (e) => e.upstream || "–" },
      { title: "Message", cls: "msg", cell: (e) => e.message },
    ], s.recentErrors, "No errors. Nice."));
  }

  function render(s) {
    $("mode").textContent = s.open ? "open" : "keys required";
    $("mode").className = "badge " + (s.open ? "open" : "secured");
    const viewer = $("viewer");
    viewer.hidden = s.open && s.viewer.full && !sessionStorage.getItem(KEY_ITEM);
    viewer.textContent = s.viewer.full ? (s.viewer.user === "(admin)" ? "admin view" : "full view") : "signed in as " + s.viewer.user;
    $("logout").hidden = !sessionStorage.getItem(KEY_ITEM);
    $("updated").textContent = "updated " + clock(s.generatedAt);
    const banner = $("banner");
    if (s.open) {
      banner.className = "banner warn";
      banner.textContent = "This gateway is open: no users are configured (Gateway:Users), so anyone who can reach it can use it.";
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
    renderCards(s);
    renderChart(s);
    renderInstances(s);
    renderUsers(s);
    renderConversations(s);
    renderSide(s);
    renderErrors(s);
    $("login").hidden = true;
    $("main").hidden = false;
  }

  function showLogin(message) {
    $("main").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("updated").textContent = "";
    const error = $("login-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("key").focus();
  }

  async function refresh() {
    clearTimeout(timer);
    const key = sessionStorage.getItem(KEY_ITEM);
    try {
      const response = await fetch("status.json", { headers: key ? { "x-api-key": key } : {}, cache: "no-store" });
      if (response.status === 401) {
        if (key) sessionStorage.removeItem(KEY_ITEM);
        showLogin(key ? "That key was not accepted." : "");
        return;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      render(await response.json());
    } catch (err) {
      const banner = $("banner");
      banner.className = "banner bad";
      banner.textContent = "Cannot reach the gateway (" + err.message + "); retrying…";
      banner.hidden = false;
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_ITEM, key);
    $("key").value = "";
    refresh();
  });
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_ITEM);
    clearTimeout(timer);
    showLogin("");
  });
  refresh();
})();

""";
}
