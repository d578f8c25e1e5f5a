// tracecollapse report: the sample browser (filters, text search, a virtualised list).
// Data: the JSON in <script id="tc-data">, columnar, one entry per response.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("tc-data").textContent);
  var C = D.cols, N = C.s.length, S = D.statuses.length, ROW = 28, PREVIEW = 600, OVERSCAN = 8;
  var $ = function (id) { return document.getElementById(id); };
  var list = $("tc-list"), rows = $("tc-rows"), spacer = $("tc-spacer"), detail = $("tc-detail");
  var view = new Int32Array(N), count = 0, selected = -1, pending = 0, lower = null;

  function opt(sel, value, text) {
    var o = document.createElement("option");
    o.value = String(value); o.textContent = text; sel.appendChild(o);
  }
  function groupName(g) { return g.pipeline === "none" ? g.task : g.task + " [" + g.pipeline + "]"; }
  function verdict(c) { return c === null ? "unscored" : c === 1 ? "correct" : c === 0 ? "wrong" : "partial"; }
  function num(id) { var v = $(id).value; return v === "" ? -1 : Number(v); }

  D.runs.forEach(function (r, i) { opt($("f-run"), i, r + (i === D.base ? " (base)" : "")); });
  D.groups.forEach(function (g, i) { opt($("f-group"), i, groupName(g)); });
  D.statuses.forEach(function (s, i) { opt($("f-status"), i, s); });
  if (D.base === null) {
    $("f-trans").disabled = true;
    $("f-trans").title = "one run only: no base to compare with";
  } else {
    D.statuses.forEach(function (a, i) {
      D.statuses.forEach(function (b, j) { opt($("f-trans"), i * S + j, a + " → " + b); });
    });
    $("f-trans").title = "status in the base run (" + D.runs[D.base] + ") → status in this row's run";
  }
  $("tc-caps").textContent = "at most " + D.caps.prompt + " characters of a prompt, " + D.caps.trace +
    " of a trace, " + D.caps.answer + " of an answer";

  function haystacks() {
    if (lower === null) {
      lower = {
        p: D.prompts.map(function (t) { return t.toLowerCase(); }),
        x: C.x.map(function (t) { return t === null ? "" : t.toLowerCase(); }),
        a: C.a.map(function (t) { return t.toLowerCase(); })
      };
    }
    return lower;
  }

  function apply() {
    var run = num("f-run"), g = num("f-group"), st = num("f-status"), tr = num("f-trans");
    var vd = $("f-verdict").value, q = $("f-search").value.trim().toLowerCase();
    var tb = tr < 0 ? -1 : Math.floor(tr / S), ts = tr < 0 ? -1 : tr % S;
    var h = q ? haystacks() : null, n = 0;
    for (var i = 0; i < N; i++) {
      if (run >= 0 && C.r[i] !== run) continue;
      if (g >= 0 && C.g[i] !== g) continue;
      if (st >= 0 && C.s[i] !== st) continue;
      if (tr >= 0 && (C.b[i] !== tb || C.s[i] !== ts)) continue;
      if (vd && verdict(C.c[i]) !== vd) continue;
      if (h && h.p[C.p[i]].indexOf(q) < 0 && h.x[i].indexOf(q) < 0 && h.a[i].indexOf(q) < 0) continue;
      view[n++] = i;
    }
    count = n;
    saveState();
    var el = $("tc-count");
    el.textContent = n.toLocaleString("en") + " of " + N.toLocaleString("en") + " responses";
    el.setAttribute("data-count", String(n));
    spacer.style.height = (n * ROW) + "px";
    list.scrollTop = 0;
    render();
  }

  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls; s.textContent = text; return s;
  }

  function render() {
    pending = 0;
    var first = Math.max(0, Math.floor(list.scrollTop / ROW) - OVERSCAN);
    var last = Math.min(count, Math.ceil((list.scrollTop + list.clientHeight) / ROW) + OVERSCAN);
    var frag = document.createDocumentFragment();
    for (var j = first; j < last; j++) {
      var i = view[j], row = document.createElement("div");
      row.className = "tc-row" + (i === selected ? " sel" : "");
      row.setAttribute("data-i", String(i));
      row.appendChild(span("badge " + D.statuses[C.s[i]], D.statuses[C.s[i]]));
      row.appendChild(span("verdict " + verdict(C.c[i]), verdict(C.c[i])));
      row.appendChild(span("meta", D.runs[C.r[i]] + " · " + groupName(D.groups[C.g[i]]) + " · #" + C.d[i] +
        (C.k[i] > 1 ? " (" + (C.i[i] + 1) + "/" + C.k[i] + ")" : "")));
      row.appendChild(span("snip", (C.a[i] || C.x[i] || "").slice(0, 160)));
      frag.appendChild(row);
    }
    rows.style.transform = "translateY(" + (first * ROW) + "px)";
    rows.replaceChildren(frag);
  }

  function block(title, text, missing, level) {
    var wrap = document.createElement("div");
    var h = document.createElement(level || "h3");
    h.textContent = title; wrap.appendChild(h);
    var pre = document.createElement("pre");
    wrap.appendChild(pre);
    if (text === null) { pre.textContent = missing; return wrap; }
    pre.textContent = text.length > PREVIEW ? text.slice(0, PREVIEW) + " …" : (text || "(empty)");
    if (text.length > PREVIEW) {
      var b = document.createElement("button"), open = false;
      b.type = "button";
      b.textContent = "show all " + text.length.toLocaleString("en") + " characters kept";
      b.addEventListener("click", function () {
        open = !open;
        pre.textContent = open ? text : text.slice(0, PREVIEW) + " …";
        b.textContent = open ? "shorten" : "show all " + text.length.toLocaleString("en") + " characters kept";
      });
      wrap.appendChild(b);
    }
    return wrap;
  }

  // the filters and the selected row, in the page's address (#run=1&status=0&q=...&sel=12)
  var FILTERS = ["run", "group", "status", "trans", "verdict"], restoring = true;
  function saveState() {
    if (restoring) return;
    var parts = [];
    FILTERS.forEach(function (f) { var v = $("f-" + f).value; if (v !== "") parts.push(f + "=" + encodeURIComponent(v)); });
    var q = $("f-search").value;
    if (q) parts.push("q=" + encodeURIComponent(q));
    if (selected >= 0) parts.push("sel=" + selected);
    var hash = parts.length ? "#" + parts.join("&") : " ";
    try { history.replaceState(null, "", hash === " " ? location.pathname + location.search : hash); }
    catch (e) { location.replace(hash === " " ? "#" : hash); }
  }
  function loadState() {
    var state = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var at = kv.indexOf("=");
      if (at > 0) state[kv.slice(0, at)] = decodeURIComponent(kv.slice(at + 1));
    });
    FILTERS.forEach(function (f) {
      var sel = $("f-" + f);
      if (state[f] !== undefined && !sel.disabled &&
          Array.prototype.some.call(sel.options, function (o) { return o.value === state[f]; })) sel.value = state[f];
    });
    if (state.q !== undefined) $("f-search").value = state.q;
    var s = Number(state.sel);
    return state.sel !== undefined && s >= 0 && s < N ? s : -1;
  }

  // the filtered rows as JSONL: what the page holds of each (texts within the page's caps)
  function rowObject(i) {
    var g = D.groups[C.g[i]];
    return { run: D.runs[C.r[i]], task: g.task, pipeline: g.pipeline, doc_id: C.d[i], response: C.i[i],
      responses: C.k[i], status: D.statuses[C.s[i]], score: C.c[i],
      base_status: C.b[i] >= 0 ? D.statuses[C.b[i]] : null, prompt: D.prompts[C.p[i]],
      gold: D.golds[C.p[i]], trace: C.x[i], answer: C.a[i] };
  }
  $("tc-export").addEventListener("click", function () {
    var lines = [];
    for (var j = 0; j < count; j++) lines.push(JSON.stringify(rowObject(view[j])));
    var url = URL.createObjectURL(new Blob([lines.join("\n") + (count ? "\n" : "")], { type: "application/jsonl" }));
    var a = document.createElement("a");
    a.href = url; a.download = "tracecollapse-rows.jsonl";
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  });

  // the same document in another run: the base run's response beside the selected one
  function partner(i) {
    var want = D.base;
    if (want === null) return -1;
    if (C.r[i] === want) {  // a base row: beside it the run the run filter shows, else the next run
      var chosen = num("f-run");
      want = chosen >= 0 && chosen !== D.base ? chosen : (D.base + 1) % D.runs.length;
    }
    var best = -1;
    for (var j = 0; j < N; j++) {
      if (C.r[j] !== want || C.g[j] !== C.g[i] || C.d[j] !== C.d[i]) continue;
      if (C.i[j] === C.i[i]) return j;
      if (best < 0) best = j;
    }
    return best;
  }
  function side(j, title) {
    var col = document.createElement("div"), h = document.createElement("h4");
    h.textContent = title;
    col.appendChild(h);
    if (j < 0) { col.appendChild(span("tc-note", "this document is not in that run")); return col; }
    var line = document.createElement("p");
    line.appendChild(span("badge " + D.statuses[C.s[j]], D.statuses[C.s[j]]));
    line.appendChild(document.createTextNode(" "));
    line.appendChild(span("verdict " + verdict(C.c[j]), verdict(C.c[j])));
    col.appendChild(line);
    col.appendChild(block("Trace", C.x[j], "(no trace: status missing)", "h5"));
    col.appendChild(block("Answer", C.a[j], "", "h5"));
    return col;
  }

  function show(i) {
    selected = i;
    saveState();
    var head = document.createElement("p"), c = C.c[i];
    head.appendChild(span("badge " + D.statuses[C.s[i]], D.statuses[C.s[i]]));
    head.appendChild(document.createTextNode(" grader: "));
    head.appendChild(span("verdict " + verdict(c), verdict(c) + (c === null ? "" : " (score " + c + ")")));
    head.appendChild(document.createTextNode(" · " + D.runs[C.r[i]] + " · " + groupName(D.groups[C.g[i]]) +
      " · doc_id " + C.d[i] + " · response " + (C.i[i] + 1) + " of " + C.k[i] +
      (C.b[i] >= 0 ? " · base status " + D.statuses[C.b[i]] : "")));
    var gold = D.golds[C.p[i]];
    detail.replaceChildren(head, block("Prompt", D.prompts[C.p[i]], ""),
      block("Gold answer", gold === null || gold === undefined ? null : gold, "(the samples line has no target)"),
      block("Trace", C.x[i], "(no trace: status missing)"), block("Answer", C.a[i], ""));
    var j = partner(i);
    if (D.base !== null && D.runs.length > 1) {
      var pair = document.createElement("div"), title = document.createElement("h3");
      pair.className = "tc-pair";
      var left = C.r[i] === D.base ? i : j, right = C.r[i] === D.base ? j : i;
      var rightRun = C.r[i] === D.base ? (j >= 0 ? D.runs[C.r[j]] : "another run") : D.runs[C.r[i]];
      pair.appendChild(side(left, "base: " + D.runs[D.base]));
      pair.appendChild(side(right, rightRun));
      title.textContent = "This document, side by side";
      detail.appendChild(title);
      detail.appendChild(pair);
    }
    detail.scrollTop = 0;
    render();
  }

  function step(by) {
    if (!count) return;
    var at = -1;
    for (var j = 0; j < count; j++) if (view[j] === selected) { at = j; break; }
    var next = Math.max(0, Math.min(count - 1, at < 0 ? 0 : at + by));
    var top = next * ROW;
    if (top < list.scrollTop) list.scrollTop = top;
    else if (top + ROW > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW - list.clientHeight;
    show(view[next]);
  }
  list.addEventListener("keydown", function (ev) {
    var by = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1, PageDown: 20, PageUp: -20 }[ev.key];
    if (by) { ev.preventDefault(); step(by); }
  });

  list.addEventListener("scroll", function () { if (!pending) pending = requestAnimationFrame(render); });
  rows.addEventListener("click", function (ev) {
    var row = ev.target.closest(".tc-row");
    if (row) show(Number(row.getAttribute("data-i")));
  });
  var timer = 0;
  $("f-search").addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(apply, 200); });
  ["f-run", "f-group", "f-status", "f-trans", "f-verdict"].forEach(function (id) {
    $(id).addEventListener("change", apply);
  });
  window.addEventListener("resize", function () { if (!pending) pending = requestAnimationFrame(render); });
  var initial = loadState();
  restoring = false;
  apply();
  if (initial >= 0) show(initial);
  document.body.setAttribute("data-ready", "1");
})();
