// Sorting and filtering of the connector tables. Plain DOM, no dependencies: the report is a
// single file that must work from a bucket, a CDN or a local file:// copy.
(function () {
  "use strict";

  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  function sortKey(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    var key = cell.getAttribute("data-sort");
    return (key === null ? cell.textContent : key).trim();
  }

  function sortTable(table, header) {
    var headers = table.tHead.rows[0].cells;
    var index = Array.prototype.indexOf.call(headers, header);
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(headers, function (other) {
      if (other.hasAttribute("aria-sort")) other.setAttribute("aria-sort", "none");
    });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");

    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var left = sortKey(a, index);
      var right = sortKey(b, index);
      // Empty cells stay at the bottom whichever the direction: they are the least interesting.
      if (!left || !right) return (left ? 0 : 1) - (right ? 0 : 1);
      var order = collator.compare(left, right);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function filterTable(table, input) {
    var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var text = row.textContent.toLowerCase();
      var visible = terms.every(function (term) { return text.indexOf(term) !== -1; });
      row.hidden = !visible;
      if (visible) shown += 1;
    });
    var total = table.tBodies[0].rows.length;
    var counter = document.querySelector('[data-shown-for="' + table.id + '"]');
    if (counter) counter.textContent = shown + " of " + total + " shown";
    var empty = document.querySelector('[data-empty-for="' + table.id + '"]');
    if (empty) empty.hidden = shown !== 0;
  }

  document.querySelectorAll("table.connectors").forEach(function (table) {
    table.querySelectorAll("th[aria-sort] button").forEach(function (button) {
      button.addEventListener("click", function () { sortTable(table, button.closest("th")); });
    });
    var input = document.querySelector('[data-filter-for="' + table.id + '"]');
    if (input) {
      input.addEventListener("input", function () { filterTable(table, input); });
      // A reload keeps what the browser restored in the box; apply it.
      if (input.value) filterTable(table, input);
    }
  });
})();
