/* Searchable dropdowns for <select multiple>: a type-to-filter checkbox list in a <details> popover.
   The select stays in its form (hidden) and keeps the chosen values, so the server reads the same field;
   without this script the plain multi-select works as before. Loaded with `defer` (CSP: script-src 'self'). */
(function () {
  "use strict";
  var count = 0;

  function chosenText(select) {
    var chosen = Array.prototype.map.call(select.selectedOptions, function (option) {
      return option.textContent.trim();
    });
    if (!chosen.length) return "Any";
    return chosen.length <= 2 ? chosen.join(", ") : chosen.length + " selected";
  }

  function visibleBoxes(list) {
    return Array.prototype.filter.call(list.querySelectorAll("input[type=checkbox]"), function (box) {
      return !box.closest("label").hidden;
    });
  }

  function enhance(select) {
    count += 1;
    var base = select.id || "multiselect-" + count;
    var label = select.id && document.querySelector('label[for="' + select.id + '"]');
    var name = label ? label.textContent.trim() : select.name;

    var details = document.createElement("details");
    details.className = "multiselect";
    var summary = document.createElement("summary");
    var summaryName = document.createElement("span");
    summaryName.className = "visually-hidden";
    summaryName.textContent = name + ": ";
    var summaryValue = document.createElement("span");
    summary.append(summaryName, summaryValue);

    var panel = document.createElement("div");
    panel.className = "multiselect-panel";
    var search = document.createElement("input");
    search.type = "search";
    search.id = base + "-search";
    search.className = "multiselect-search";
    search.placeholder = "Type to filter…";
    search.autocomplete = "off";
    search.setAttribute("aria-label", "Filter the " + name + " choices");
    var list = document.createElement("div");
    list.className = "multiselect-options";
    list.setAttribute("role", "group");
    list.setAttribute("aria-label", name + " choices");
    var empty = document.createElement("p");
    empty.className = "multiselect-empty muted";
    empty.textContent = "No choice matches.";
    empty.hidden = true;

    Array.prototype.forEach.call(select.options, function (option) {
      var row = document.createElement("label");
      row.className = "multiselect-option";
      var box = document.createElement("input");
      box.type = "checkbox";
      box.value = option.value;
      box.checked = option.selected;
      box.addEventListener("change", function () {
        option.selected = box.checked;
        summaryValue.textContent = chosenText(select);
        select.dispatchEvent(new Event("change", { bubbles: true }));
      });
      row.append(box, " " + option.textContent.trim());
      row.dataset.match = (option.textContent + " " + option.value).toLowerCase();
      list.append(row);
    });

    function sync() {
      Array.prototype.forEach.call(list.querySelectorAll("input[type=checkbox]"), function (box, index) {
        box.checked = select.options[index].selected;
      });
      summaryValue.textContent = chosenText(select);
    }

    search.addEventListener("input", function () {
      var needle = search.value.trim().toLowerCase();
      var shown = 0;
      Array.prototype.forEach.call(list.children, function (row) {
        row.hidden = needle !== "" && row.dataset.match.indexOf(needle) === -1;
        if (!row.hidden) shown += 1;
      });
      empty.hidden = shown > 0;
    });
    search.addEventListener("keydown", function (event) {
      var boxes = visibleBoxes(list);
      if (event.key === "Enter") {
        event.preventDefault(); // Enter in the filter box must not submit the whole form
        if (boxes.length === 1) boxes[0].click();
      } else if (event.key === "ArrowDown" && boxes.length) {
        event.preventDefault();
        boxes[0].focus();
      }
    });
    list.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
      var boxes = visibleBoxes(list);
      var at = boxes.indexOf(document.activeElement);
      if (at === -1) return;
      event.preventDefault();
      if (event.key === "ArrowUp" && at === 0) search.focus();
      else if (boxes[at + (event.key === "ArrowDown" ? 1 : -1)]) boxes[at + (event.key === "ArrowDown" ? 1 : -1)].focus();
    });
    details.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && details.open) {
        details.open = false;
        summary.focus();
      }
    });
    details.addEventListener("toggle", function () {
      details.classList.remove("multiselect-flip");
      if (!details.open) return;
      if (panel.getBoundingClientRect().right > document.documentElement.clientWidth) {
        details.classList.add("multiselect-flip");
      }
      // The toggle event comes after the click that opened it: a keyboard user already in the list keeps its place.
      if (!panel.contains(document.activeElement)) search.focus();
    });

    if (label) {
      label.htmlFor = search.id; // the field's label names and opens the dropdown
      label.addEventListener("click", function () {
        details.open = true;
      });
    }
    if (select.form) {
      select.form.addEventListener("reset", function () {
        window.setTimeout(sync, 0);
      });
    }
    window.addEventListener("pageshow", sync); // back/forward restores the select's state, not ours

    panel.append(search, list, empty);
    details.append(summary, panel);
    select.hidden = true;
    select.tabIndex = -1;
    select.after(details);
    sync();
    return details;
  }

  var dropdowns = Array.prototype.map.call(document.querySelectorAll("select[multiple]"), enhance);
  document.addEventListener("click", function (event) {
    dropdowns.forEach(function (details) {
      if (details.open && !details.contains(event.target) && !event.target.closest("label[for='" + details.querySelector(".multiselect-search").id + "']")) {
        details.open = false;
      }
    });
  });
})();
