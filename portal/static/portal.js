/* PAO portal: the form's live rules and the request page's live events.
 *
 * The request form carries its form document (the same JSON as GET /api/v1/catalog/items/{id}/schema)
 * in <script type="application/json" id="form-document">. From it this script shows and hides
 * conditional fields as values change and checks each shown field with the server's rules and
 * the server's own messages (orchestrator/forms.py, check_fields); the server checks again on
 * submit, so this is a convenience, never the judge. No inline script anywhere (CSP script-src 'self').
 */
(function () {
  "use strict";

  // -- htmx: every unsafe call carries the CSRF token -----------------------------------------
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.body.getAttribute("data-csrf");
    if (token) { event.detail.headers["X-CSRF-Token"] = token; }
  });

  // -- the request form ------------------------------------------------------------------------
  function fmt(n) { // Python's "{:g}"
    if (Number.isInteger(n) && Math.abs(n) < 1e16) { return String(n); }
    var s = Number(n).toPrecision(6);
    if (s.indexOf("e") < 0 && s.indexOf(".") >= 0) { s = s.replace(/0+$/, "").replace(/\.$/, ""); }
    return s;
  }

  function jsonEqual(a, b) {
    if (typeof a === "boolean" || typeof b === "boolean") { return a === b; }
    return a === b || (typeof a === "number" && typeof b === "number" && a === b) || String(a) === String(b) && typeof a === typeof b;
  }

  function holds(cond, actual) {
    var expected = (cond.condition === "in" || cond.condition === "notIn") ? cond.value : [cond.value];
    var entries = Array.isArray(actual) ? actual : [actual];
    var hit = entries.some(function (a) { return expected.some(function (e) { return jsonEqual(a, e); }); });
    return (cond.condition === "equals" || cond.condition === "in") ? hit : !hit;
  }

  function setupForm(form, doc) {
    var fields = [];
    doc.form.groups.forEach(function (g) { g.fields.forEach(function (f) { fields.push(f); }); });
    var byId = {};
    fields.forEach(function (f) { byId[f.id] = f; });
    var optionOf = function (f, text) {
      var found = (f.options || []).filter(function (o) { return String(o.value) === text; });
      return found.length ? found[0].value : text;
    };

    function inputs(f) { return form.querySelectorAll('[name="f.' + CSS.escape(f.id) + '"]'); }

    function read(f) { // the value the server would read (portal/fields.py); undefined: left out
      var els = inputs(f);
      if (!els.length) { return undefined; }
      if (f.type === "boolean") { return els[0].checked; }
      if (f.type === "multiselect") {
        var chosen = [];
        els.forEach(function (el) { if (el.checked) { chosen.push(optionOf(f, el.value)); } });
        return chosen.length ? chosen : undefined;
      }
      var raw = els[0].value;
      if (raw === "") { return undefined; }
      if (f.type === "number") {
        var t = raw.trim();
        return (t !== "" && isFinite(Number(t))) ? Number(t) : raw;
      }
      if (f.type === "select") { return optionOf(f, raw); }
      return raw;
    }

    function visibility(values) {
      var shown = {};
      function visible(id, depth) {
        if (id in shown) { return shown[id]; }
        var f = byId[id], c = f.conditional, result;
        if (!c) { result = true; }
        else if (!(c.dependsOn in byId) || depth > fields.length) { result = false; }
        else {
          var ctl = byId[c.dependsOn];
          var v = (ctl.id in values) ? values[ctl.id] : ctl["default"];
          result = visible(ctl.id, depth + 1) && holds(c, v);
        }
        shown[id] = result;
        return result;
      }
      fields.forEach(function (f) { visible(f.id, 0); });
      return shown;
    }

    function problem(f, value) { // orchestrator/forms.py _value_errors, same words
      var name = "'" + f.name + "'";
      var r = f.validation || {};
      if (value === undefined) {
        return (f.required && (f["default"] === undefined || f["default"] === null)) ? name + " is required" : null;
      }
      if (f.type === "string" || f.type === "textarea" || f.type === "password") {
        var len = Array.from(value).length;
        if (r.minLength !== undefined && len < r.minLength) { return name + " must be at least " + r.minLength + " characters long"; }
        if (r.maxLength !== undefined && len > r.maxLength) { return name + " must be at most " + r.maxLength + " characters long"; }
        if (r.pattern !== undefined) {
          var re;
          try { re = new RegExp(r.pattern, "u"); } catch (e) { return null; }
          if (!re.test(value)) {
            if (r.message) { return name + " is invalid: " + r.message; }
            return f.type === "password" ? name + " does not have the required format" : name + " must match the pattern " + r.pattern;
          }
        }
        return null;
      }
      if (f.type === "number") {
        if (typeof value !== "number") { return name + " must be a number"; }
        if (r.min !== undefined && value < r.min) { return name + " must be at least " + fmt(r.min); }
        if (r.max !== undefined && value > r.max) { return name + " must be at most " + fmt(r.max); }
        if (r.step !== undefined) {
          var base = r.min !== undefined ? r.min : 0, q = (value - base) / r.step;
          if (Math.abs(q - Math.round(q)) > 1e-9) { return name + " must be " + fmt(base) + " plus a multiple of " + fmt(r.step); }
        }
        return null;
      }
      if (f.type === "multiselect") {
        var low = r.minItems !== undefined ? r.minItems : 0;
        if (f.required) { low = Math.max(low, 1); }
        if (value.length < low) { return name + " needs at least " + low + " option(s)"; }
        if (r.maxItems !== undefined && value.length > r.maxItems) { return name + " allows at most " + r.maxItems + " option(s)"; }
        return null;
      }
      if (f.type === "date") {
        if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || isNaN(Date.parse(value + "T00:00:00Z"))) { return name + " must be a date written YYYY-MM-DD"; }
        if (r.minDate && value < r.minDate) { return name + " must be on or after " + r.minDate; }
        if (r.maxDate && value > r.maxDate) { return name + " must be on or before " + r.maxDate; }
      }
      return null;
    }

    function values() {
      var out = {};
      fields.forEach(function (f) { var v = read(f); if (v !== undefined) { out[f.id] = v; } });
      return out;
    }

    function applyVisibility() {
      var shown = visibility(values());
      fields.forEach(function (f) {
        var wrap = document.getElementById("wrap-" + f.id);
        if (!wrap) { return; }
        wrap.hidden = !shown[f.id];
        inputs(f).forEach(function (el) { el.disabled = !shown[f.id]; });
      });
      return shown;
    }

    function showError(f, message) {
      var err = document.getElementById("err-" + f.id);
      var el = document.getElementById("in-" + f.id);
      if (err) { err.textContent = message || ""; }
      if (el) {
        if (message) { el.setAttribute("aria-invalid", "true"); } else { el.removeAttribute("aria-invalid"); }
      }
    }

    function check(f, shown) {
      if (!shown[f.id]) { showError(f, null); return null; }
      var message = problem(f, read(f));
      showError(f, message);
      return message;
    }

    var touched = {};
    form.addEventListener("input", function (event) { onChange(event, false); });
    form.addEventListener("change", function (event) { onChange(event, true); });
    function onChange(event, leaving) {
      var shown = applyVisibility();
      var name = event.target.name || "";
      if (name.indexOf("f.") !== 0) { return; }
      var f = byId[name.slice(2)];
      if (!f) { return; }
      if (leaving) { touched[f.id] = true; }
      if (touched[f.id]) { check(f, shown); }
    }

    form.addEventListener("submit", function (event) {
      var shown = applyVisibility();
      var messages = [];
      var first = null;
      fields.forEach(function (f) {
        touched[f.id] = true;
        var m = check(f, shown);
        if (m) { messages.push([f, m]); if (!first) { first = f; } }
      });
      if (!messages.length) { return; }
      event.preventDefault();
      var summary = document.getElementById("error-summary");
      summary.textContent = "";
      var h = document.createElement("h2");
      h.textContent = messages.length + (messages.length === 1 ? " problem" : " problems") + " to fix";
      var ul = document.createElement("ul");
      messages.forEach(function (pair) {
        var li = document.createElement("li"), a = document.createElement("a");
        a.href = "#in-" + pair[0].id;
        a.textContent = pair[1];
        li.appendChild(a);
        ul.appendChild(li);
      });
      summary.appendChild(h);
      summary.appendChild(ul);
      summary.hidden = false;
      summary.focus();
    });
    // htmx's preview runs the same checks first: a plan of an invalid form is the server's errors anyway
    applyVisibility();
  }

  // -- the request page: a rejection needs a reason (the server's words, data-required-message) --
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("reject")) { return; }
    var input = form.querySelector("[data-required-message]");
    var err = document.getElementById("err-reject");
    if (!input || input.value.trim() !== "") { return; }
    event.preventDefault();
    event.stopImmediatePropagation(); // htmx listens on the form itself: it never posts
    if (err) { err.textContent = input.getAttribute("data-required-message"); }
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }, true);

  // -- the request page: follow the live event stream ------------------------------------------
  var GATE_EVENTS = ["approval_recorded", "approvals_reset", "approved", "rejected", "approval_expired"];
  function follow(log) {
    if (log.getAttribute("data-terminal") === "true" || !window.EventSource) { return; }
    var url = log.getAttribute("data-events");
    var source = new EventSource(url);
    var seen = parseInt(log.getAttribute("data-last-id") || "0", 10);
    var live = document.getElementById("live-state");
    source.addEventListener("log", function (event) {
      var entry = JSON.parse(event.data);
      if (entry.id <= seen) { return; }
      seen = entry.id;
      var li = document.createElement("li");
      var when = document.createElement("span");
      when.className = "meta";
      when.textContent = (entry.created_at || "").replace("T", " ").slice(0, 19) + " UTC";
      li.appendChild(when);
      li.appendChild(document.createTextNode(" "));
      if (entry.action_id) {
        var strong = document.createElement("strong");
        strong.textContent = entry.action_id;
        li.appendChild(strong);
        li.appendChild(document.createTextNode(" "));
      }
      li.appendChild(document.createTextNode(entry.message || entry.event || ""));
      log.appendChild(li);
      // someone else's approval keeps the status (a next stage waits): refresh the gate anyway
      if (GATE_EVENTS.indexOf(entry.event) >= 0) { document.body.dispatchEvent(new CustomEvent("pao:moved")); }
    });
    source.addEventListener("status", function (event) {
      var data = JSON.parse(event.data);
      if (live) { live.textContent = "Status: " + data.status; }
      document.body.dispatchEvent(new CustomEvent("pao:moved"));
    });
    source.addEventListener("end", function (event) {
      var data = JSON.parse(event.data);
      source.close();
      if (live) { live.textContent = "Finished: " + data.status; }
      log.setAttribute("data-terminal", "true");
      document.body.dispatchEvent(new CustomEvent("pao:moved"));
    });
  }

  function start() {
    var form = document.getElementById("request-form");
    var doc = document.getElementById("form-document");
    if (form && doc) { setupForm(form, JSON.parse(doc.textContent)); }
    var log = document.getElementById("log");
    if (log) { follow(log); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }

  // A failed request that is retried goes on: follow it again once a decision moved it.
  document.addEventListener("htmx:afterSwap", function () {
    var log = document.getElementById("log");
    var panel = document.getElementById("request-panel");
    if (log && panel && log.getAttribute("data-terminal") === "true" &&
        panel.getAttribute("data-terminal") !== "true") {
      log.setAttribute("data-terminal", "false");
      follow(log);
    }
  });
})();
