// LeadFlow's page behaviour, in one static file: the Content-Security-Policy allows no
// inline script (no onclick=, no hx-on, no <script> blocks), so pages mark elements with
// data- attributes and this file listens for them. Pages work without it where they can.
(function () {
  "use strict";

  // --- htmx: a failure it does not swap in (a 5xx, the network) still says something.
  function showPageAlert(text) {
    var alert = document.getElementById("page-alert");
    if (!alert) return;
    alert.textContent = text;
    alert.hidden = false;
  }
  document.addEventListener("htmx:beforeRequest", function () {
    var alert = document.getElementById("page-alert");
    if (alert) alert.hidden = true;
  });
  document.addEventListener("htmx:responseError", function () {
    showPageAlert("Something went wrong; nothing was changed. Please try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showPageAlert("LeadFlow could not be reached; nothing was changed. Please try again.");
  });

  // --- Confirmations: <form data-confirm="Undo this merge?"> asks before it submits.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // --- <a data-back href="..."> goes back in history (keeping what was typed), else follows href.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-back]");
    if (link && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });

  // --- The lead list.
  // "Select all on this page" ticks every row's box (the table is swapped by htmx: delegate).
  document.addEventListener("change", function (event) {
    var all = event.target.closest("input[data-select-all]");
    if (!all) return;
    document.querySelectorAll("input[name=ids]").forEach(function (box) {
      box.checked = all.checked;
    });
  });
  // After htmx put a list's address in the bar, the export link and "Save view" follow it.
  document.addEventListener("htmx:pushedIntoHistory", function (event) {
    var link = document.querySelector("a[data-export-base]");
    var saved = document.getElementById("saveview-query");
    var query = new URL(event.detail.path, window.location.href).searchParams;
    query.delete("cursor");
    var text = query.toString();
    if (link) link.href = link.dataset.exportBase + (text ? "?" + text : "");
    if (saved) saved.value = text;
  });
  function wireSearch() {
    // The filter form refreshes on any change; the search box refreshes as one types
    // (its own trigger), so its change event (on leaving the box) must not refresh again.
    var search = document.querySelector("input[data-live-search]");
    if (search) search.addEventListener("change", function (e) { e.stopPropagation(); });
  }

  // --- Charts: <canvas data-chart="ID"> with a json_script ID holding labels and series.
  function drawCharts(root) {
    if (typeof Chart === "undefined") return;
    (root || document).querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      var data = JSON.parse(source.textContent);
      canvas.dataset.drawn = "yes";
      new Chart(canvas, {
        type: "line",
        data: {labels: data.labels, datasets: [
          {label: "Score", data: data.scores, borderColor: "#2454d6", tension: 0.2},
          {label: "Fit", data: data.fits, borderColor: "#8a5300", tension: 0.2}]},
        options: {animation: false, plugins: {legend: {position: "bottom"}}}
      });
    });
  }
  document.addEventListener("htmx:load", function (event) { drawCharts(event.detail.elt); });

  // --- Dashboard charts: <canvas data-dashchart="ID"> with a json_script ID holding
  // {type, labels, series: [{label, data}], percent, stacked, summary}
  // (dashboards.tables.chart). Colour is never the only cue: each bar series has its own
  // fill pattern, each line its own dash and point shape, and every value is written on
  // the chart; the numbers are in the table beside it.
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"];
  var DASHES = [[], [8, 4], [2, 3], [12, 3, 3, 3], [4, 4], [1, 6]];
  var POINTS = ["circle", "triangle", "rect", "rectRot", "star", "crossRot"];

  function pattern(index, color) {
    var size = 10, tile = document.createElement("canvas");
    tile.width = tile.height = size;
    var c = tile.getContext("2d");
    c.fillStyle = color;
    var kind = index % 6;
    if (kind === 0) { c.fillRect(0, 0, size, size); }
    else {
      c.fillStyle = "#ffffff"; c.fillRect(0, 0, size, size);
      c.strokeStyle = color; c.fillStyle = color; c.lineWidth = 2.5;
      c.beginPath();
      if (kind === 1) { c.moveTo(0, size); c.lineTo(size, 0); c.moveTo(-2, 2); c.lineTo(2, -2); c.moveTo(size - 2, size + 2); c.lineTo(size + 2, size - 2); c.stroke(); }
      else if (kind === 2) { c.arc(5, 5, 2.6, 0, 2 * Math.PI); c.fill(); }
      else if (kind === 3) { c.moveTo(0, 0); c.lineTo(size, size); c.moveTo(size, 0); c.lineTo(0, size); c.stroke(); }
      else if (kind === 4) { c.fillRect(0, 3, size, 4); }
      else { c.fillRect(3, 0, 4, size); }
    }
    return c.createPattern(tile, "repeat");
  }

  function formatValue(value, percent) {
    if (value === null || value === undefined) return "";
    var text = Math.abs(value) >= 1000 ? Math.round(value).toLocaleString("en") :
      (Math.round(value * 10) / 10).toString();
    return percent ? text + " %" : text;
  }

  // Writes each value on its bar or point (our own small plugin: no extra library).
  var valueLabels = {
    id: "leadflowValues",
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx, spec = chart.options.plugins.leadflowValues || {};
      var horizontal = chart.options.indexAxis === "y";
      ctx.save();
      ctx.font = "600 11px system-ui, sans-serif";
      ctx.fillStyle = "#1d2433";
      chart.data.datasets.forEach(function (dataset, i) {
        var meta = chart.getDatasetMeta(i);
        if (meta.hidden) return;
        meta.data.forEach(function (element, j) {
          var value = dataset.data[j];
          if (value === null || value === undefined || (spec.stacked && !value)) return;
          var text = formatValue(value, spec.percent);
          var p = element.tooltipPosition();
          if (spec.stacked) {
            var span = horizontal ? Math.abs(element.x - element.base) : Math.abs(element.base - element.y);
            if (span < ctx.measureText(text).width + 6 && !horizontal) return;
            if (span < 16) return;
            var x = horizontal ? (element.x + element.base) / 2 : element.x;
            var y = horizontal ? element.y : (element.y + element.base) / 2;
            var w = ctx.measureText(text).width + 6;
            ctx.fillStyle = "rgba(255,255,255,0.9)";
            ctx.fillRect(x - w / 2, y - 8, w, 16);
            ctx.fillStyle = "#1d2433";
            ctx.textAlign = "center"; ctx.textBaseline = "middle";
            ctx.fillText(text, x, y);
          } else if (horizontal) {
            ctx.textAlign = "left"; ctx.textBaseline = "middle";
            ctx.fillText(text, p.x + 4, p.y);
          } else {
            ctx.textAlign = "center"; ctx.textBaseline = "bottom";
            ctx.fillText(text, p.x, p.y - 4);
          }
        });
      });
      ctx.restore();
    }
  };

  function drawDashCharts(root) {
    if (typeof Chart === "undefined") return;
    (root || document).querySelectorAll("canvas[data-dashchart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      var source = document.getElementById(canvas.dataset.dashchart);
      if (!source) return;
      var spec = JSON.parse(source.textContent);
      canvas.dataset.drawn = "yes";
      // A line needs three points to show a trend; fewer read better as bars.
      var line = spec.type === "line" && spec.labels.length >= 3;
      var longest = spec.labels.reduce(function (n, l) { return Math.max(n, l.length); }, 0);
      var horizontal = !line && (longest > 14 || spec.labels.length > 8);
      var box = canvas.parentNode;
      if (horizontal) {
        var per = spec.stacked ? 26 : 14 * spec.series.length + 12;
        box.style.height = Math.max(180, 70 + per * spec.labels.length) + "px";
      }
      var datasets = spec.series.map(function (series, i) {
        var color = PALETTE[i % PALETTE.length];
        if (line) {
          return {label: series.label, data: series.data, borderColor: color, backgroundColor: color,
                  borderDash: DASHES[i % DASHES.length], pointStyle: POINTS[i % POINTS.length],
                  pointRadius: 5, borderWidth: 2.5, tension: 0, spanGaps: true};
        }
        return {label: series.label, data: series.data, backgroundColor: pattern(i, color),
                borderColor: color, borderWidth: 1.5};
      });
      var valueAxis = {beginAtZero: true, grace: "12%",
                       ticks: {callback: function (v) { return formatValue(v, spec.percent); }}};
      if (spec.stacked) valueAxis.stacked = true;
      if (spec.percent) { valueAxis.max = 100; valueAxis.grace = 0; }
      else valueAxis.ticks.precision = 0;
      var labelAxis = {stacked: !!spec.stacked, ticks: {autoSkip: false}};
      new Chart(canvas, {
        type: line ? "line" : "bar",
        data: {labels: spec.labels, datasets: datasets},
        options: {
          animation: false, responsive: true, maintainAspectRatio: false,
          layout: {padding: {top: 20, right: horizontal ? 36 : 8}},
          indexAxis: horizontal ? "y" : "x",
          scales: horizontal ? {x: valueAxis, y: labelAxis} : {x: labelAxis, y: valueAxis},
          plugins: {
            legend: {position: "bottom", labels: {usePointStyle: line, boxWidth: 28, boxHeight: 14}},
            tooltip: {callbacks: {label: function (item) {
              return item.dataset.label + ": " + formatValue(item.raw, spec.percent);
            }}},
            leadflowValues: {percent: spec.percent, stacked: spec.stacked}
          }
        },
        plugins: [valueLabels]
      });
    });
  }
  document.addEventListener("htmx:load", function (event) { drawDashCharts(event.detail.elt); });

  // --- Copy buttons: <button data-copy="ID" hidden> copies the text of element ID; shown
  // only with JavaScript (without it, the text box itself is there to select and copy).
  function wireCopyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var box = document.getElementById(button.dataset.copy);
        var status = document.getElementById(button.dataset.copy + "-status");
        var done = function () { if (status) status.textContent = "Copied."; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(box.value).then(done, function () {
            box.select();
            if (status) status.textContent = "Press Ctrl+C (⌘C) to copy.";
          });
        } else {
          box.select();
          if (document.execCommand("copy")) done();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wireSearch();
    wireCopyButtons();
    drawCharts(document);
    drawDashCharts(document);
  });
})();
