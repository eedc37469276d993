// trimodal explorer: a static page over data/index.js (every video's labels and predictions)
// and data/chunk_NNNNN.js (the rest of each video, loaded by a <script> tag when needed: the
// page runs from the file system, where fetch() of a local file is refused). Every piece of
// data goes into the DOM through textContent or an attribute, never as markup.
"use strict";

const EXPLORER = (() => {
  const PAGE = 50;      // videos per list page
  const QPAGE = 20;     // queries per retrieval page
  let D = null;         // the index
  const chunks = {};    // chunk number -> {video id: details}
  const waiting = {};   // chunk number -> [callbacks]
  const state = { labelSet: "", filter: "all", search: "", textHits: null, cell: null,
                  page: 0, qpage: 0, view: "videos", selected: null };
  let visible = [];

  const $ = (id) => document.getElementById(id);
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function option(value, text) { const o = el("option", text); o.value = value; return o; }

  // ---------------------------------------------------------------- data loading
  function loadChunk(c, cb) {
    if (chunks[c]) { cb(chunks[c]); return; }
    // the single-file edition (report.html) carries its chunks as JSON elements
    const inline = document.getElementById("chunk-" + String(c).padStart(5, "0"));
    if (inline) { chunk(c, JSON.parse(inline.textContent)); cb(chunks[c]); return; }
    if (waiting[c]) { waiting[c].push(cb); return; }
    waiting[c] = [cb];
    const s = document.createElement("script");
    s.src = "data/chunk_" + String(c).padStart(5, "0") + ".js";
    s.onerror = () => { console.warn("could not load chunk " + c); delete waiting[c]; };
    document.body.appendChild(s);
  }
  function chunk(c, videos) {
    chunks[c] = videos;
    (waiting[c] || []).forEach((cb) => cb(videos));
    delete waiting[c];
  }
  function details(i, cb) {
    loadChunk(Math.floor(i / D.chunk_size), (videos) => cb(videos[D.ids[i]]));
  }
  function thumbSrc(i) {
    if (D.thumb_data) return D.thumb_data[i];
    const c = Math.floor(i / D.chunk_size);
    return "thumbs/c" + String(c).padStart(5, "0") + "/" + encodeURIComponent(D.ids[i]) + ".jpg";
  }
  function thumb(i) {
    if (!D.thumb[i]) return null;
    const img = el("img", null, "thumb");
    img.alt = D.ids[i];
    img.src = thumbSrc(i);
    return img;
  }

  // ---------------------------------------------------------------- filters
  function rowsOf(ls) { return D.results.map((r, k) => [r, k]).filter(([r]) => r.label_set === ls); }
  const singles = {};  // label set -> its evaluated single-modality rows (asked per video)
  function singleRows(ls) {
    if (!singles[ls]) singles[ls] = rowsOf(ls).filter(([r]) => r.kind === "single" && !r.not_evaluated);
    return singles[ls];
  }
  function modalities(ls) {
    return [...new Set(singleRows(ls).map(([r]) => r.modality || r.feature_set))];
  }
  // modality -> true (right by one of its rows) / false (predicted, all wrong); absent: no prediction
  function verdicts(ls, i) {
    const y = D.label_sets[ls].y[i];
    const out = {};
    if (y < 0) return out;
    for (const [r] of singleRows(ls)) {
      const p = r.pred[i];
      if (p < 0) continue;
      const m = r.modality || r.feature_set;
      out[m] = out[m] === true || p === y;
    }
    return out;
  }
  function passes(i) {
    const ls = state.labelSet;
    const f = state.filter;
    if (state.cell) {
      const r = D.results[state.cell.row];
      if (D.label_sets[r.label_set].y[i] !== state.cell.t || r.pred[i] !== state.cell.p) return false;
    }
    if (state.search) {
      const q = state.search.toLowerCase();
      const label = ls ? (D.label_sets[ls].classes[D.label_sets[ls].y[i]] || "") : "";
      const hit = D.ids[i].toLowerCase().includes(q) || D.sheet_label[i].toLowerCase().includes(q) ||
        label.toLowerCase().includes(q) || (state.textHits !== null && state.textHits.has(i));
      if (!hit) return false;
    }
    if (f === "all") return true;
    if (f === "failures") return D.n_fail[i] > 0 || D.n_warn[i] > 0;
    if (!ls) return true;
    if (f === "labelled") return D.label_sets[ls].y[i] >= 0;
    const v = verdicts(ls, i);
    const ms = Object.keys(v);
    if (!ms.length) return false;
    if (f === "wrong-all") return ms.every((m) => !v[m]);
    if (f === "right-all") return ms.every((m) => v[m]);
    if (f.startsWith("only:")) {
      const m = f.slice(5);
      return v[m] === true && ms.every((o) => o === m || !v[o]);
    }
    return true;
  }
  function refresh() {
    visible = [];
    for (let i = 0; i < D.n_videos; i++) if (passes(i)) visible.push(i);
    $("count").textContent = visible.length + " of " + D.n_videos + " videos";
    state.page = Math.min(state.page, Math.max(0, Math.ceil(visible.length / PAGE) - 1));
    renderList();
  }

  // ---------------------------------------------------------------- the video list
  function score(i) {
    const ls = state.labelSet;
    if (!ls) return null;
    const y = D.label_sets[ls].y[i];
    if (y < 0) return null;
    const rows = rowsOf(ls).filter(([r]) => r.pred[i] >= 0);
    if (!rows.length) return null;
    const right = rows.filter(([r]) => r.pred[i] === y).length;
    return right + "/" + rows.length + " right";
  }
  function renderList() {
    const ul = $("list");
    ul.replaceChildren();
    const start = state.page * PAGE;
    for (const i of visible.slice(start, start + PAGE)) {
      const li = el("li", null, "video");
      li.dataset.id = D.ids[i];
      const t = thumb(i);
      if (t) li.appendChild(t);
      li.appendChild(el("span", D.ids[i], "vid"));
      const ls = state.labelSet;
      const label = ls && D.label_sets[ls].y[i] >= 0 ? D.label_sets[ls].classes[D.label_sets[ls].y[i]] : D.sheet_label[i];
      li.appendChild(el("span", label, "label"));
      const s = score(i);
      if (s) li.appendChild(el("span", s, "badge"));
      if (D.n_fail[i]) li.appendChild(el("span", D.n_fail[i] + " failed", "badge fail"));
      if (D.n_warn[i]) li.appendChild(el("span", D.n_warn[i] + " warning", "badge warn"));
      if (state.selected === i) li.classList.add("selected");
      li.addEventListener("click", () => select(i));
      ul.appendChild(li);
    }
    const pages = Math.max(1, Math.ceil(visible.length / PAGE));
    $("page").textContent = "page " + (state.page + 1) + " of " + pages;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
    const banner = $("cell-banner");
    banner.replaceChildren();
    banner.hidden = !state.cell;
    if (state.cell) {
      const r = D.results[state.cell.row];
      const cls = D.label_sets[r.label_set].classes;
      banner.appendChild(el("span", "true " + cls[state.cell.t] + ", predicted " + cls[state.cell.p] + " by " + r.name + " "));
      const clear = el("button", "clear");
      clear.type = "button";
      clear.addEventListener("click", () => { state.cell = null; refresh(); });
      banner.appendChild(clear);
    }
  }

  // ---------------------------------------------------------------- one video
  function section(parent, title) {
    parent.appendChild(el("h3", title));
  }
  function select(i) {
    state.selected = i;
    document.querySelectorAll("li.video.selected").forEach((e) => e.classList.remove("selected"));
    const pane = $("detail");
    pane.replaceChildren(el("p", "loading " + D.ids[i] + "…", "hint"));
    details(i, (v) => renderDetail(i, v));
  }
  function renderDetail(i, v) {
    if (state.selected !== i) return;
    const pane = $("detail");
    pane.replaceChildren();
    pane.dataset.id = D.ids[i];
    pane.appendChild(el("h2", D.ids[i], "vid"));
    const t = thumb(i);
    if (t) pane.appendChild(t);
    else pane.appendChild(el("p", "no thumbnail" + (v.thumb_error ? ": " + v.thumb_error : ""), "hint"));
    const dl = el("dl");
    const add = (k, val) => { dl.appendChild(el("dt", k)); dl.appendChild(el("dd", val)); };
    add("label (sheet)", D.sheet_label[i] || "—");
    for (const [ls, lab] of Object.entries(v.labels)) add("label (" + ls + ")", lab);
    pane.appendChild(dl);
    section(pane, "Description");
    pane.appendChild(el("p", v.description || "—", "description"));
    for (const tx of v.texts) {
      section(pane, tx.title + " (" + tx.from + ")");
      pane.appendChild(el("p", tx.text || "(no speech)", "transcript"));
    }
    for (const ob of v.objects) {
      section(pane, "Objects (" + ob.from + ")");
      if (!ob.classes.length) pane.appendChild(el("p", "none detected", "hint"));
      const ul = el("ul");
      for (const c of ob.classes) {
        ul.appendChild(el("li", c.name + ": " + c.n + " detections, max conf " + c.max_conf +
          ", at " + c.times.map((s) => s + " s").join(", ") + (c.more ? " (+" + c.more + " more)" : "")));
      }
      pane.appendChild(ul);
    }
    for (const so of v.sounds) {
      section(pane, "Sounds (" + so.from + ")");
      const ul = el("ul");
      for (const c of so.classes) {
        ul.appendChild(el("li", c.name + ": mean " + c.mean + ", max " + c.max +
          (c.peak_s === null ? "" : ", peak at " + c.peak_s + " s")));
      }
      pane.appendChild(ul);
    }
    section(pane, "Out-of-fold predictions");
    const tab = el("table", null, "preds");
    const head = el("tr");
    ["result", "predicted", "p(pred)", "p(true)", "fold", ""].forEach((h) => head.appendChild(el("th", h)));
    tab.appendChild(head);
    D.results.forEach((r, k) => {
      const p = v.preds[k];
      if (!p) return;
      const cls = D.label_sets[r.label_set].classes;
      const ok = r.pred[i] === D.label_sets[r.label_set].y[i];
      const tr = el("tr", null, ok ? "right" : "wrong");
      [r.label_set + ": " + r.name, cls[r.pred[i]], p[0], p[1], p[2], ok ? "right" : "wrong"]
        .forEach((x) => tr.appendChild(el("td", x === null ? "—" : x)));
      tab.appendChild(tr);
    });
    pane.appendChild(tab);
    if (v.failures.length || v.warnings.length) {
      section(pane, "Failures and warnings");
      const ul = el("ul");
      for (const f of v.failures) ul.appendChild(el("li", f.stage + " (" + f.where + "): " + f.reason, "fail"));
      for (const f of v.warnings) ul.appendChild(el("li", f.stage + " (" + f.where + "): " + f.reason, "warn"));
      pane.appendChild(ul);
    }
    D.pairs.forEach((pair, k) => {
      const r = v.retrieval[k];
      if (!r) return;
      section(pane, "Retrieved for " + pair.name + " (" + pair.run + ")");
      pane.appendChild(items(i, r));
    });
  }
  function items(i, r) {
    const box = el("div", null, "items");
    box.appendChild(el("span", "true video at rank " + r[0] + ":"));
    r[1].forEach((j, n) => {
      const it = el("span", null, "item" + (j === i ? " true" : ""));
      it.dataset.id = j >= 0 ? D.ids[j] : "";
      const t = j >= 0 ? thumb(j) : null;
      if (t) it.appendChild(t);
      it.appendChild(el("div", (n + 1) + ". " + (j >= 0 ? D.ids[j] : "?") + (j === i ? " ✓ true" : "")));
      if (j >= 0) it.addEventListener("click", () => select(j));
      box.appendChild(it);
    });
    return box;
  }

  // ---------------------------------------------------------------- confusion
  function renderResults() {
    const sel = $("result");
    sel.replaceChildren();
    for (const [r, k] of rowsOf(state.labelSet)) {
      sel.appendChild(option(String(k), r.name + (r.not_evaluated ? " (not evaluated)" : "")));
    }
    renderConfusion();
  }
  function renderConfusion() {
    const table = $("confusion");
    table.replaceChildren();
    const k = Number($("result").value);
    const r = D.results[k];
    if (!r) { $("result-info").textContent = "no result row"; return; }
    $("result-info").textContent = r.not_evaluated ? "not evaluated: " + r.not_evaluated :
      "balanced accuracy " + r.balanced_accuracy + ", accuracy " + r.accuracy + ", " + r.n + " videos (" + r.file + ")";
    const ls = D.label_sets[r.label_set];
    const n = ls.classes.length;
    const m = Array.from({ length: n }, () => new Array(n).fill(0));
    for (let i = 0; i < D.n_videos; i++) {
      if (ls.y[i] >= 0 && r.pred[i] >= 0) m[ls.y[i]][r.pred[i]]++;
    }
    const head = el("tr");
    head.appendChild(el("th", "true \\ predicted"));
    ls.classes.forEach((c) => head.appendChild(el("th", c)));
    table.appendChild(head);
    ls.classes.forEach((c, t) => {
      const tr = el("tr");
      tr.appendChild(el("th", c));
      for (let p = 0; p < n; p++) {
        const td = el("td", m[t][p], "cell" + (t === p ? " diag" : "") + (m[t][p] ? "" : " zero"));
        td.dataset.t = t; td.dataset.p = p;
        if (m[t][p]) {
          td.addEventListener("click", () => {
            state.cell = { row: k, t: t, p: p };
            state.page = 0;
            show("videos");
            refresh();
          });
        }
        tr.appendChild(td);
      }
      table.appendChild(tr);
    });
  }

  // ---------------------------------------------------------------- retrieval
  function renderPairs() {
    const sel = $("pair");
    sel.replaceChildren();
    D.pairs.forEach((p, k) => sel.appendChild(option(String(k), p.name)));
    renderQueries();
  }
  function renderQueries() {
    const ol = $("queries");
    ol.replaceChildren();
    const k = Number($("pair").value);
    const pair = D.pairs[k];
    if (!pair) { $("pair-info").textContent = "no cross-modal pair in this run"; return; }
    $("pair-info").textContent = "mapping " + pair.run + " (best mean MRR " + pair.mrr +
      ", chance " + pair.chance_mrr + "; R@10 " + pair.r10 + "), " +
      pair.queries.length + " queries; each query's top retrieved videos of its test fold, the true one marked";
    const pages = Math.max(1, Math.ceil(pair.queries.length / QPAGE));
    state.qpage = Math.min(state.qpage, pages - 1);
    $("qpage").textContent = "page " + (state.qpage + 1) + " of " + pages;
    $("qprev").disabled = state.qpage === 0;
    $("qnext").disabled = state.qpage >= pages - 1;
    for (const i of pair.queries.slice(state.qpage * QPAGE, (state.qpage + 1) * QPAGE)) {
      const li = el("li", null, "query");
      li.dataset.id = D.ids[i];
      const head = el("div");
      head.appendChild(el("span", D.ids[i], "vid"));
      head.appendChild(el("span", " " + D.sheet_label[i]));
      head.addEventListener("click", () => select(i));
      li.appendChild(head);
      ol.appendChild(li);
      details(i, (v) => { if (v.retrieval[k]) li.appendChild(items(i, v.retrieval[k])); });
    }
  }

  // ---------------------------------------------------------------- search in texts
  function searchTexts() {
    const q = $("search").value.trim().toLowerCase();
    state.search = q;
    if (!q) { state.textHits = null; refresh(); return; }
    const hits = new Set();
    state.textHits = hits;
    const n = Math.ceil(D.n_videos / D.chunk_size);
    let c = 0;
    const next = () => {
      if (c >= n || state.textHits !== hits) return;
      loadChunk(c, (videos) => {
        for (const [vid, v] of Object.entries(videos)) {
          const text = [v.description, ...v.texts.map((t) => t.text)].join(" ").toLowerCase();
          if (text.includes(q)) hits.add(D.pos.get(vid));
        }
        c++;
        refresh();
        next();
      });
    };
    next();
  }

  // ---------------------------------------------------------------- set-up
  function show(view) {
    state.view = view;
    document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
    document.querySelectorAll(".view").forEach((s) => { s.hidden = s.id !== "view-" + view; });
  }
  function renderFilters() {
    const sel = $("filter");
    const keep = state.filter;
    sel.replaceChildren(option("all", "all videos"), option("failures", "failed or warned"));
    if (state.labelSet) {
      sel.appendChild(option("labelled", "labelled in " + state.labelSet));
      sel.appendChild(option("wrong-all", "wrong by every modality"));
      sel.appendChild(option("right-all", "right by every modality"));
      for (const m of modalities(state.labelSet)) sel.appendChild(option("only:" + m, "right only by " + m));
    }
    state.filter = [...sel.options].some((o) => o.value === keep) ? keep : "all";
    sel.value = state.filter;
  }
  function index(data) {
    D = data;
    D.pos = new Map(D.ids.map((v, i) => [v, i]));
    // per-video integers come one character each, chr(48 + v) (build.encode_ints)
    const decode = (x) => (typeof x === "string" ? Int32Array.from(x, (c) => c.charCodeAt(0) - 48) : Int32Array.from(x));
    D.thumb = decode(D.thumb); D.n_fail = decode(D.n_fail); D.n_warn = decode(D.n_warn);
    Object.values(D.label_sets).forEach((ls) => { ls.y = decode(ls.y); });
    D.results.forEach((r) => { r.pred = decode(r.pred); });
    document.title = D.title;
    const ls = $("labelset");
    for (const name of Object.keys(D.label_sets)) ls.appendChild(option(name, name));
    state.labelSet = ls.value;
    ls.addEventListener("change", () => {
      state.labelSet = ls.value; state.cell = null; renderFilters(); renderResults(); refresh();
    });
    $("filter").addEventListener("change", () => { state.filter = $("filter").value; state.page = 0; refresh(); });
    $("search").addEventListener("input", () => {
      state.search = $("search").value.trim(); state.textHits = null; state.page = 0; refresh();
    });
    $("search-text").addEventListener("click", searchTexts);
    $("prev").addEventListener("click", () => { state.page--; renderList(); });
    $("next").addEventListener("click", () => { state.page++; renderList(); });
    $("qprev").addEventListener("click", () => { state.qpage--; renderQueries(); });
    $("qnext").addEventListener("click", () => { state.qpage++; renderQueries(); });
    $("result").addEventListener("change", renderConfusion);
    $("pair").addEventListener("change", () => { state.qpage = 0; renderQueries(); });
    document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));
    renderFilters();
    renderResults();
    renderPairs();
    refresh();
    document.body.dataset.ready = "1";
  }
  return { index: index, chunk: chunk };
})();
window.EXPLORER = EXPLORER;
if (document.getElementById("explorer-index")) {  // the single-file edition
  EXPLORER.index(JSON.parse(document.getElementById("explorer-index").textContent));
}
