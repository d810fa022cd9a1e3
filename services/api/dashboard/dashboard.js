// Journeyline dashboard: reads the /v1 insights with the read token and draws them with ECharts.
// The page itself holds no data; the token comes from the URL fragment (#token=..., never sent to
// the server) or from the token form, and lives in sessionStorage (this tab only).
"use strict";

(() => {
  const TOKEN_KEY = "journeyline.readToken";
  const STAGES = ["awareness", "consideration", "purchase", "use", "retention", "advocacy"];
  const STAGE_COLORS = ["#5470c6", "#73a0fa", "#3ba272", "#91cc75", "#fac858", "#ee6666"];
  const PERIODS = 8;
  const DAY_MS = 86400000;

  const $ = (id) => document.getElementById(id);
  const charts = {};
  let generation = 0;

  class AuthError extends Error {}

  // --- formatting ------------------------------------------------------------------------------

  const integer = (n) => n.toLocaleString("en-US");
  const percent = (x) => `${(x * 100).toFixed(1)}%`;
  const title = (s) => s.charAt(0).toUpperCase() + s.slice(1).replace(/_/g, " ");
  const escape = (s) => echarts.format.encodeHTML(String(s));

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.round(seconds);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  }

  const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
  const dayMs = (day) => Date.parse(`${day}T00:00:00Z`);

  // --- token -----------------------------------------------------------------------------------

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  function takeTokenFromFragment() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    const value = fragment.get("token");
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    // Out of the address bar and history either way.
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  }

  function askForToken(error) {
    $("board").hidden = true;
    $("sign-out").hidden = true;
    $("token-panel").hidden = false;
    $("token-error").hidden = !error;
    $("token-error").textContent = error || "";
    $("token").value = "";
    $("token").focus();
    document.body.dataset.state = "token";
  }

  // --- filters ---------------------------------------------------------------------------------

  function initFilters() {
    const query = new URLSearchParams(location.search);
    const today = isoDay(Date.now());
    $("to").value = query.get("to") || today;
    $("from").value = query.get("from") || isoDay(dayMs($("to").value) - 83 * DAY_MS);
    if (query.get("channel") !== null) $("channel").value = query.get("channel");
    if (query.get("interval")) $("interval").value = query.get("interval");
  }

  function filters() {
    return {from: $("from").value, to: $("to").value, channel: $("channel").value, interval: $("interval").value};
  }

  function rememberFilters(f) {
    const query = new URLSearchParams({from: f.from, to: f.to, interval: f.interval});
    if (f.channel) query.set("channel", f.channel);
    history.replaceState(null, "", `${location.pathname}?${query}`);
  }

  // --- API -------------------------------------------------------------------------------------

  function describe(detail, status) {
    if (Array.isArray(detail)) {
      return detail.map((d) => `${(d.loc || []).slice(1).join(".") || "request"}: ${d.msg}`).join("; ");
    }
    return detail ? String(detail) : `HTTP ${status}`;
  }

  async function api(path, params) {
    const url = new URL(path, location.origin);
    for (const [key, value] of Object.entries(params)) {
      if (value !== "" && value !== null && value !== undefined) url.searchParams.set(key, value);
    }
    const response = await fetch(url, {headers: {Authorization: `Bearer ${token()}`}, cache: "no-store"});
    if (response.status === 401) throw new AuthError("The API refused this token");
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(`${path}: ${describe(body.detail, response.status)}`);
    return body;
  }

  // --- charts ----------------------------------------------------------------------------------

  function chart(id) {
    if (!charts[id]) charts[id] = echarts.init($(id), null, {renderer: "canvas"});
    return charts[id];
  }

  const empty = (text) => ({
    text, left: "center", top: "38%", textStyle: {color: "#8a94a6", fontSize: 14, fontWeight: "normal"},
  });

  function renderFunnel(funnel) {
    const steps = funnel.stages;
    const customers = steps.map((s) => s.customers);
    const dropOff = customers.map((n, i) => (i === 0 ? 0 : customers[i - 1] - n));
    chart("funnel-chart").setOption({
      title: customers[0] ? undefined : empty("Nobody entered the funnel in this range"),
      color: STAGE_COLORS,
      grid: {left: 48, right: 16, top: 36, bottom: 56},
      legend: {top: 0, right: 0, data: ["Customers", "Drop-off"]},
      tooltip: {trigger: "axis", axisPointer: {type: "shadow"}},
      xAxis: {
        type: "category",
        data: steps.map((s) => title(s.stage)),
        axisLabel: {
          interval: 0,
          formatter: (value, i) => `{stage|${value}}\n{rate|${percent(steps[i].conversion_from_first)}}`,
          rich: {stage: {fontWeight: "bold", color: "#374151", lineHeight: 18},
                 rate: {color: "#6b7280", lineHeight: 18}},
        },
      },
      yAxis: {type: "value", minInterval: 1, splitLine: {lineStyle: {color: "#eef0f4"}}},
      series: [
        {name: "Customers", type: "bar", stack: "funnel", colorBy: "data", barWidth: "56%", data: customers,
         label: {show: true, position: "insideTop", color: "#fff", fontWeight: "bold",
                 formatter: (p) => (p.value ? integer(p.value) : "")}},
        {name: "Drop-off", type: "bar", stack: "funnel", data: dropOff,
         itemStyle: {color: "#e3e7ee", borderRadius: [4, 4, 0, 0]},
         label: {show: true, position: "top", color: "#9aa3b2", formatter: (p) => (p.value ? `−${integer(p.value)}` : "")}},
      ],
    }, {notMerge: true});

    const rows = steps.map((s, i) => {
      const cells = [
        title(s.stage),
        integer(s.customers),
        percent(s.conversion_from_first),
        i === 0 ? "—" : percent(s.conversion_from_previous),
        i === 0 ? "—" : `${integer(dropOff[i])} (${percent(customers[i - 1] ? dropOff[i] / customers[i - 1] : 0)})`,
        i === 0 ? "—" : duration(s.median_seconds_from_previous),
      ];
      const tr = document.createElement("tr");
      tr.dataset.stage = s.stage;
      cells.forEach((text, c) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (c === 0) td.style.setProperty("--dot", STAGE_COLORS[i]);
        tr.appendChild(td);
      });
      return tr;
    });
    $("funnel-table").tBodies[0].replaceChildren(...rows);

    $("kpi-entered").textContent = integer(customers[0]);
    $("kpi-purchase").textContent = percent(steps[2].conversion_from_first);
    $("kpi-purchase-note").textContent = `${integer(customers[2])} of ${integer(customers[0])} who entered`;
  }

  const nodeLabel = (name) => {
    const stage = name.slice(name.indexOf(":") + 1);
    return stage === "(start)" ? "Entry" : title(stage);
  };
  const stageColor = (name) => STAGE_COLORS[STAGES.indexOf(name.slice(name.indexOf(":") + 1))] || "#9aa3b2";

  function renderSankey(transitions) {
    // Left column: the stage left; right column: the stage entered. Two columns keep the graph
    // acyclic (ECharts' Sankey needs that) even when customers go back to an earlier stage.
    const links = transitions.transitions.map((t) => ({
      source: `from:${t.from}`, target: `to:${t.to}`, value: t.transitions,
      customers: t.customers, median_seconds: t.median_seconds,
    }));
    const order = (name) => {
      const stage = name.slice(name.indexOf(":") + 1);
      return (name.startsWith("to:") ? 100 : 0) + (stage === "(start)" ? -1 : STAGES.indexOf(stage));
    };
    const names = [...new Set(links.flatMap((l) => [l.source, l.target]))].sort((a, b) => order(a) - order(b));
    chart("sankey-chart").setOption({
      title: links.length ? undefined : empty("No journeys in this range"),
      tooltip: {
        trigger: "item",
        formatter: (p) => {
          if (p.dataType !== "edge") return `${escape(nodeLabel(p.name))}: ${integer(p.value)} moves`;
          const d = p.data;
          const median = d.median_seconds === null ? "" : `<br>median ${escape(duration(d.median_seconds))} between`;
          return `${escape(nodeLabel(d.source))} → ${escape(nodeLabel(d.target))}<br>` +
            `${integer(d.value)} moves by ${integer(d.customers)} customers${median}`;
        },
      },
      series: [{
        type: "sankey", left: 8, right: 112, top: 8, bottom: 8, nodeWidth: 14, nodeGap: 12,
        layoutIterations: 0, draggable: false, emphasis: {focus: "adjacency"},
        data: names.map((name) => ({name, itemStyle: {color: stageColor(name)}})),
        links,
        label: {formatter: (p) => nodeLabel(p.name), color: "#374151"},
        lineStyle: {color: "gradient", curveness: 0.5, opacity: 0.35},
      }],
    }, {notMerge: true});
  }

  function renderScores(nps, csat, interval) {
    const dates = nps.series.map((p) => p.interval_start.slice(0, 10));
    const none = !nps.responses && !csat.responses;
    chart("scores-chart").setOption({
      title: none ? empty("No NPS or CSAT responses in this range") : undefined,
      color: ["#5470c6", "#3ba272"],
      grid: {left: 48, right: 24, top: 36, bottom: 48},
      legend: {top: 0, right: 0, data: ["NPS", "CSAT %"]},
      tooltip: {
        trigger: "axis",
        formatter: (items) => {
          const i = items[0].dataIndex;
          const n = nps.series[i], c = csat.series[i];
          const show = (v) => (v === null || v === undefined ? "–" : v.toFixed(1));
          return `${escape(title(interval))} of ${escape(dates[i])}<br>` +
            `NPS ${show(n.score)} (${integer(n.responses)} responses)<br>` +
            `CSAT ${show(c.score)}% (${integer(c.responses)} responses)`;
        },
      },
      xAxis: {type: "category", data: dates},
      yAxis: {type: "value", min: -100, max: 100, interval: 50, splitLine: {lineStyle: {color: "#eef0f4"}}},
      series: [
        {name: "NPS", type: "line", data: nps.series.map((p) => p.score), symbolSize: 7, connectNulls: false,
         markLine: {silent: true, symbol: "none", data: [{yAxis: 0}],
                                               lineStyle: {color: "#c0c6d1", type: "dashed"}, label: {show: false}}},
        {name: "CSAT %", type: "line", data: csat.series.map((p) => p.score), symbolSize: 7, connectNulls: false},
      ],
    }, {notMerge: true});

    $("kpi-nps").textContent = nps.score === null ? "–" : nps.score.toFixed(1);
    $("kpi-nps-note").textContent = nps.responses
      ? `${integer(nps.responses)} responses: ${integer(nps.promoters)} promoters, ${integer(nps.detractors)} detractors`
      : "no responses";
    $("kpi-csat").textContent = csat.score === null ? "–" : `${csat.score.toFixed(1)}%`;
    $("kpi-csat-note").textContent = csat.responses
      ? `${integer(csat.satisfied)} of ${integer(csat.responses)} satisfied, mean ${csat.mean.toFixed(2)}`
      : "no responses";
  }

  function renderRetention(retention) {
    const cohorts = retention.cohorts;
    const unit = title(retention.interval);
    const periods = Math.max(1, ...cohorts.map((c) => c.retained.length));
    const data = [];
    cohorts.forEach((c, row) => c.retention_rate.forEach((rate, i) => {
      data.push({value: [i, row, rate], retained: c.retained[i], customers: c.customers});
    }));
    const el = $("retention-chart");
    el.style.height = `${Math.max(240, cohorts.length * 30 + 110)}px`;
    const instance = chart("retention-chart");
    instance.resize();
    instance.setOption({
      title: cohorts.some((c) => c.customers) ? undefined : empty("No first purchases in this range"),
      grid: {left: 150, right: 24, top: 8, bottom: 70},
      tooltip: {
        formatter: (p) => {
          const c = cohorts[p.value[1]];
          return `Cohort of ${escape(c.cohort_start.slice(0, 10))} (${integer(c.customers)} customers)<br>` +
            `${escape(unit)} ${p.value[0]}: ${integer(p.data.retained)} purchased (${percent(p.value[2])})`;
        },
      },
      xAxis: {type: "category", data: Array.from({length: periods}, (_, i) => `${unit} ${i}`)},
      yAxis: {type: "category", inverse: true,
              data: cohorts.map((c) => `${c.cohort_start.slice(0, 10)} · ${integer(c.customers)}`)},
      visualMap: {min: 0, max: 1, calculable: false, orient: "horizontal", left: "center", bottom: 4,
                  itemHeight: 160, text: ["100%", "0%"], inRange: {color: ["#f4f7fd", "#9ec1f7", "#2f5fc4"]}},
      series: [{
        name: "Retention", type: "heatmap", data,
        label: {show: true, fontSize: 11, formatter: (p) => (p.data.customers ? percent(p.value[2]) : "–")},
        itemStyle: {borderColor: "#fff", borderWidth: 2},
        emphasis: {itemStyle: {shadowBlur: 6, shadowColor: "rgba(0,0,0,0.25)"}},
      }],
    }, {notMerge: true});
  }

  // --- loading ---------------------------------------------------------------------------------

  function showMessage(text) {
    $("message").hidden = !text;
    $("message").textContent = text || "";
  }

  async function load() {
    const f = filters();
    if (!f.from || !f.to || f.from > f.to) {
      showMessage("Choose a From date on or before the To date.");
      document.body.dataset.state = "error";
      return;
    }
    rememberFilters(f);
    const mine = ++generation;
    document.body.dataset.state = "loading";
    $("token-panel").hidden = true;
    $("sign-out").hidden = false;
    $("board").hidden = false;
    // The To day is included: the API's end is exclusive, so it is the next midnight (UTC).
    const range = {start: `${f.from}T00:00:00Z`, end: `${isoDay(dayMs(f.to) + DAY_MS)}T00:00:00Z`,
                   channel: f.channel};
    try {
      const [funnel, transitions, nps, csat, retention] = await Promise.all([
        api("/v1/funnels/stages", range),
        api("/v1/transitions", {...range, level: "stage"}),
        api("/v1/metrics/nps", {...range, interval: f.interval}),
        api("/v1/metrics/csat", {...range, interval: f.interval}),
        api("/v1/retention", {...range, interval: f.interval, periods: PERIODS}),
      ]);
      if (mine !== generation) return; // a newer load is under way
      showMessage("");
      $("scope").textContent = `${f.from} to ${f.to} (UTC) · ${f.channel ? title(f.channel) : "All channels"} · ` +
        `by ${f.interval}`;
      renderFunnel(funnel);
      renderSankey(transitions);
      renderScores(nps, csat, f.interval);
      renderRetention(retention);
      document.body.dataset.generation = String(mine);
      document.body.dataset.state = "ready";
    } catch (error) {
      if (mine !== generation) return;
      if (error instanceof AuthError) {
        sessionStorage.removeItem(TOKEN_KEY);
        askForToken(error.message);
        return;
      }
      showMessage(`Could not load the dashboard: ${error.message}`);
      document.body.dataset.state = "error";
    }
  }

  function start() {
    takeTokenFromFragment();
    if (typeof echarts === "undefined") {
      showMessage("The charting library is not installed on this server: run `make install` there.");
      document.body.dataset.state = "error";
      return;
    }
    initFilters();
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      if (token()) load(); else askForToken();
    });
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
      load();
    });
    $("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      generation++;
      askForToken();
    });
    window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
    if (token()) load(); else askForToken();
  }

  start();
})();
