// Mapping editor conveniences. The page works without this file: rows are
// forms that the server checks on save. Here, while a rule is typed, it is
// compiled by POST …/templates/{flow}/check (nothing is saved) and what is
// wrong shows beside the row before the user saves.
(function () {
  "use strict";
  var table = document.querySelector("table.rules[data-check-url]");
  if (!table || !window.fetch) return;
  var url = table.getAttribute("data-check-url");
  var csrf = table.getAttribute("data-csrf");

  function ruleOf(row) {
    var target = row.querySelector("[data-rule-target]").value.trim();
    var kind = row.querySelector("[data-rule-kind]").value;
    var text = row.querySelector("[data-rule-text]").value;
    if (!target && !text.trim()) return null;
    if (kind === "json") {
      var rule;
      try { rule = JSON.parse(text); } catch (e) { return { error: "The rule is not valid JSON: " + e.message }; }
      if (!rule || typeof rule !== "object" || Array.isArray(rule)) return { error: "The rule must be a JSON object." };
      rule.target = target;
      return { rule: rule };
    }
    var value = text.trim();
    if (kind === "value") {
      try { value = JSON.parse(value); } catch (e) { /* bare text is text */ }
    }
    var r = { target: target };
    r[kind] = value;
    return { rule: r };
  }

  function show(row, ok, message) {
    var out = row.querySelector("[data-check]");
    out.className = ok ? "ok" : "bad";
    out.textContent = ok ? "✓ compiles" : "✗ " + message;
  }

  function check(row) {
    var built = ruleOf(row);
    if (!built) { row.querySelector("[data-check]").textContent = ""; return; }
    if (built.error) { show(row, false, built.error); return; }
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ rule: built.rule })
    }).then(function (resp) {
      return resp.json().then(function (body) { return { status: resp.status, body: body }; });
    }).then(function (r) {
      if (r.status !== 200) { show(row, false, (r.body.error && r.body.error.message) || "could not check"); return; }
      show(row, r.body.ok, (r.body.field ? r.body.field + ": " : "") + (r.body.message || ""));
    }).catch(function () { /* offline: the server checks on save */ });
  }

  var timers = new WeakMap();
  table.querySelectorAll("[data-rule-row]").forEach(function (row) {
    var schedule = function () {
      clearTimeout(timers.get(row));
      timers.set(row, setTimeout(function () { check(row); }, 400));
    };
    row.querySelectorAll("input, select, textarea").forEach(function (el) {
      el.addEventListener("input", schedule);
      el.addEventListener("change", schedule);
    });
  });

  // After a refused save, put the focus on the error summary (GOV.UK pattern).
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
