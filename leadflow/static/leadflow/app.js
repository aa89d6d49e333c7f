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
  });
})();
