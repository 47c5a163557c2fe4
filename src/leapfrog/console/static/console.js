// leapfrog console: live overview (Server-Sent Events), charts (uPlot) and their drag-zoom,
// CSRF header for htmx.
"use strict";
(function () {
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrf();
  });

  function fmt(unit) {
    return function (u, v) {
      if (v == null) return "";
      if (unit === "bytes") return (v / 1048576).toFixed(1) + " MiB";
      if (unit === "/s") return v.toFixed(2) + "/s";
      if (unit === "ms") return v.toFixed(1) + " ms";
      if (unit === "percent") return v.toFixed(1) + "%";
      return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
    };
  }
  // Zoom: dragging across a chart narrows the whole page's time range. The page is
  // loaded again with `from` and `to` the dragged span (so every chart and the log
  // view follow, and the URL can be reloaded or shared), the range it had before its
  // first zoom kept in `reset_from`/`reset_to` for the "reset zoom" link.
  function rangeForm() {
    var input = document.querySelector("form input[name=from]");
    return input ? input.form : null;
  }
  function iso(seconds) {
    return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  function zoom(u) {
    var form = rangeForm();
    if (!form || u.select.width < 3) return;
    var start = Math.floor(u.posToVal(u.select.left, "x"));
    var end = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
    if (end <= start) end = start + 1;
    var params = new URLSearchParams(new FormData(form));
    if (!params.get("reset_from")) {
      params.set("reset_from", params.get("from") || "");
      params.set("reset_to", params.get("to") || "now");
    }
    params.set("from", iso(start));
    params.set("to", iso(end));
    params.delete("tail");  // a zoomed range is a fixed span: nothing new to tail
    window.location.assign(form.getAttribute("action") + "?" + params.toString());
  }

  function draw(el, data) {
    el.textContent = "";
    el.dataset.points = "0";  // until points are drawn: an error, no data, no uPlot
    if (data.error) {
      var box = document.createElement("div");
      box.className = "error";
      box.textContent = data.error;
      el.appendChild(box);
      return;
    }
    if (!data.times || data.times.length === 0) {
      var empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "no data in this time range";
      el.appendChild(empty);
      return;
    }
    if (typeof uPlot === "undefined") return;
    var palette = ["#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#b7791f", "#285e61"];
    var series = [{}];
    var columns = [data.times];
    data.series.forEach(function (s, i) {
      series.push({ label: s.label, stroke: palette[i % palette.length], width: 1.5, value: fmt(data.unit) });
      columns.push(s.values);
    });
    var bars = el.classList.contains("histogram");
    if (bars) series[1].paths = uPlot.paths.bars({ size: [0.9] }), series[1].fill = "#2b6cb055";
    var opts = {
      width: Math.max(300, el.clientWidth || 600),
      height: bars ? 120 : 220,
      series: series,
      axes: [{}, { values: function (u, vals) { return vals.map(function (v) { return fmt(data.unit)(u, v); }); }, size: 70 }],
      legend: { show: !bars },
    };
    if (rangeForm()) {
      opts.cursor = { drag: { x: true, y: false, setScale: false } };
      opts.hooks = { setSelect: [zoom] };
    }
    el.plot = new uPlot(opts, columns, el);
    el.dataset.points = String(columns.slice(1).reduce(function (n, c) { return n + c.filter(function (v) { return v != null; }).length; }, 0));
  }
  function charts(root) {
    root.querySelectorAll(".chart[data-chart]").forEach(function (el) {
      if (el.plot) return;
      try { draw(el, JSON.parse(el.dataset.chart)); } catch (err) { el.textContent = "cannot draw: " + err; }
    });
    root.querySelectorAll(".chart[data-src]").forEach(function (el) {
      if (el.plot || el.dataset.loading) return;
      el.dataset.loading = "1";
      fetch(el.dataset.src, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) { draw(el, data); })
        .catch(function () { draw(el, { error: "the console did not answer" }); });
    });
  }

  function live() {
    var box = document.getElementById("overview");
    if (!box || !window.EventSource) return;
    var source = new EventSource(box.dataset.stream);
    source.onmessage = function (e) { box.innerHTML = e.data; };
    source.onerror = function () { box.classList.add("stale"); };
    source.onopen = function () { box.classList.remove("stale"); };
  }

  document.addEventListener("DOMContentLoaded", function () {
    charts(document);
    live();
  });
  document.addEventListener("htmx:afterSwap", function (e) { charts(e.target); });
})();
