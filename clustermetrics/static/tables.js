/* clustermetrics: sortable tables. A click on a column's header in a table.sortable sorts its
   rows by that column: numbers as numbers (a cell's data-sort, else its text: 1,234 and 93%
   read as numbers), text in natural order, empty cells (—, n/a) last in either direction.
   The header says its order in aria-sort. Without this script a table keeps the server's
   order. No inline handlers: the page's Content-Security-Policy allows this file only. */
(function () {
  "use strict";
  var EMPTY = { "": 1, "\u2014": 1, "-": 1, "n/a": 1, "None": 1, "null": 1, "NaN": 1 };
  var NUMBER = /^[-+\u2212]?(\d[\d,\u202f\u00a0]*\.?\d*|\.\d+)([eE][-+]?\d+)?%?$/;

  function cellAt(row, column) {
    // the cell that covers the column, colspans counted
    var at = 0;
    for (var i = 0; i < row.cells.length; i++) {
      var span = row.cells[i].colSpan || 1;
      if (column < at + span) { return span > 1 ? null : row.cells[i]; }
      at += span;
    }
    return null;
  }

  function columnOf(th) {
    var at = 0, cells = th.parentNode.cells;
    for (var i = 0; i < cells.length && cells[i] !== th; i++) { at += cells[i].colSpan || 1; }
    return at;
  }

  function key(cell) {
    if (!cell) { return null; }
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort")
                                              : cell.textContent;
    raw = raw.trim();
    if (EMPTY[raw]) { return null; }
    var plain = raw.split(" ")[0];
    if (NUMBER.test(plain)) {
      var n = parseFloat(plain.replace(/[,\u202f\u00a0%]/g, "").replace("\u2212", "-"));
      if (!isNaN(n)) { return n; }
    }
    return raw.toLowerCase();
  }

  function compare(a, b) {
    // numbers before text; null is handled by the caller (always last)
    var na = typeof a === "number", nb = typeof b === "number";
    if (na && nb) { return a - b; }
    if (na !== nb) { return na ? -1 : 1; }
    return a.localeCompare(b, undefined, { numeric: true });
  }

  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    if (!body) { return; }
    var column = columnOf(th);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.map.call(body.rows, function (row, i) {
      return { row: row, key: key(cellAt(row, column)), at: i };
    });
    rows.sort(function (x, y) {
      if (x.key === null || y.key === null) {
        return x.key === y.key ? x.at - y.at : (x.key === null ? 1 : -1);
      }
      var c = compare(x.key, y.key);
      return (ascending ? c : -c) || x.at - y.at;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
    Array.prototype.forEach.call(table.querySelectorAll("thead th[aria-sort]"), function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  function init() {
    var heads = document.querySelectorAll("table.sortable > thead > tr > th");
    Array.prototype.forEach.call(heads, function (th) {
      if (th.querySelector("button.sort") || !th.textContent.trim()) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(th); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
