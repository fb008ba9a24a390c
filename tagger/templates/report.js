(function () {
  "use strict";
  // Sortable tables: a click (or Enter) on a header sorts by data-value when the column is numeric.
  function key(cell, numeric) {
    if (!cell) return numeric ? -Infinity : "";
    if (numeric) {
      var v = parseFloat(cell.getAttribute("data-value"));
      return isNaN(v) ? -Infinity : v;
    }
    return cell.textContent.trim().toLowerCase();
  }
  function sortBy(table, th) {
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-kind") === "num";
    var dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
    if (!numeric && th.getAttribute("aria-sort") === "none") dir = "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
      var c = x < y ? -1 : x > y ? 1 : 0;
      return dir === "ascending" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.children, function (h) {
      if (h.hasAttribute("aria-sort")) h.setAttribute("aria-sort", h === th ? dir : "none");
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.querySelectorAll("thead th[aria-sort]"), function (th) {
      th.addEventListener("click", function () { sortBy(table, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, th); });
    });
  });

  // The row whose per-type counts and confusion matrix are shown.
  var rowSelect = document.getElementById("row-select");
  if (rowSelect) {
    rowSelect.addEventListener("change", function () {
      Array.prototype.forEach.call(document.querySelectorAll(".row-panel"), function (p, i) {
        p.hidden = String(i) !== rowSelect.value;
      });
    });
  }

  // Sentence filters: an entity type, an error class, or both (an entity of that type in that class).
  var fType = document.getElementById("filter-type"), fClass = document.getElementById("filter-class");
  var count = document.getElementById("filter-count");
  function has(list, item) { return (" " + list + " ").indexOf(" " + item + " ") >= 0; }
  function filter() {
    var t = fType.value, c = fClass.value, shown = 0, all = document.querySelectorAll(".sent");
    Array.prototype.forEach.call(all, function (s) {
      var ok = t && c ? has(s.getAttribute("data-tc"), t + ":" + c)
        : t ? has(s.getAttribute("data-types"), t)
        : c ? has(s.getAttribute("data-classes"), c) : true;
      s.hidden = !ok;
      if (ok) shown += 1;
    });
    count.textContent = shown + " of " + all.length + " shown";
  }
  if (fType && fClass) {
    fType.addEventListener("change", filter);
    fClass.addEventListener("change", filter);
    filter();
  }
})();
