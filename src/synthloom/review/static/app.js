// synthloom review: the page. Record text is LLM output: it is only ever set as text
// (textContent, value), never parsed as HTML. No framework, no network but this server.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const $ = (selector) => document.querySelector(selector);
const state = {
  schema: null, filter: {}, offset: 0, limit: 50, page: null, cursor: -1, detail: null,
  selected: new Set(), mode: null,  // mode: null (the filter) or {title, ids, items} (similar records)
};
const REASONS = ["hallucination", "wrong label", "off topic", "bad format", "low quality", "duplicate", "unsafe"];

// ---- helpers -------------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function api(path, body) {
  const options = {headers: {"X-Review-Token": TOKEN}};
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) {
    toast(data.error || `error ${response.status}`, true);
    throw new Error(data.error);
  }
  return data;
}

let toastTimer = null;
function toast(message, bad = false) {
  const box = $("#toast");
  box.textContent = message;
  box.className = bad ? "show bad" : "show";
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.className = ""; }, 3500);
}

const short = (value) => (typeof value === "string" ? value : JSON.stringify(value));
const reviewer = () => $("#reviewer").value.trim() || null;

function query() {
  const params = new URLSearchParams({offset: state.offset, limit: state.limit});
  for (const [key, value] of Object.entries(state.filter)) if (value !== "" && value != null) params.set(key, value);
  return params;
}

// ---- loading -------------------------------------------------------------------------------
async function loadSchema() {
  state.schema = await api("/api/schema");
  const s = state.schema;
  $("#run-name").textContent = `${s.name} · ${s.run}`;
  document.title = `review: ${s.name}`;
  if (s.reviewer && !$("#reviewer").value) $("#reviewer").value = s.reviewer;
  showCounts();
  const reason = $("#reason");
  reason.replaceChildren(el("option", {value: ""}, "any"));
  for (const [name, count] of s.facets.reasons) reason.append(el("option", {value: name}, `${name} (${count})`));
  const slots = $("#slot-filters");
  slots.replaceChildren();
  for (const name of s.slots) {
    const values = s.facets.slots[name] || [];
    let input;
    if (values.length >= 200) {  // a long list (a vocabulary): type it, with the commonest values offered
      const list = el("datalist", {id: `values-${name}`}, values.map(([value]) => el("option", {value})));
      input = el("input", {"data-slot": name, list: list.id, placeholder: "any"});
      slots.append(list);
    } else {
      input = el("select", {"data-slot": name}, el("option", {value: ""}, "any"));
      for (const [value, count] of values) input.append(el("option", {value}, `${value} (${count})`));
    }
    input.addEventListener("change", () => setFilter(`slot.${name}`, input.value));
    slots.append(el("label", {}, name, input));
  }
  const scores = $("#score-filters");
  scores.replaceChildren();
  for (const [name, spec] of Object.entries(s.scores)) {
    const input = el("input", {placeholder: `${spec.scale[0]}..${spec.scale[1]}`, size: 8, "data-score": name});
    input.addEventListener("change", () => setFilter(`score.${name}`, input.value.trim()));
    scores.append(el("label", {title: "N, N.., ..N or N..M"}, `${name} (judge)`, input));
  }
  $("#reason-list").replaceChildren(...REASONS.map((r) => el("option", {value: r})));
}

function showCounts() {
  const f = state.schema.facets;
  const decided = Object.values(f.decided).reduce((a, b) => a + b, 0);
  $("#counts").textContent = `${f.statuses.kept || 0} kept · ${f.statuses.rejected || 0} rejected · ${decided} reviewed`;
}

async function loadPage(keepCursor = false) {
  if (state.mode) {
    state.page = {total: state.mode.items.length, offset: 0, limit: state.mode.items.length, items: state.mode.items};
  } else {
    state.page = await api(`/api/records?${query()}`);
  }
  renderList();
  const count = state.page.items.length;
  if (!keepCursor) state.cursor = count ? 0 : -1;
  state.cursor = Math.min(state.cursor, count - 1);
  if (state.cursor >= 0) await openRecord(state.cursor);
  else $("#detail").replaceChildren(el("p", {class: "note"}, "No record matches."));
}

async function refresh() {
  state.schema.facets = (await api("/api/schema")).facets;
  showCounts();
  if (state.mode) {
    const ids = state.mode.items.map((i) => i.idx).join(",");
    const fresh = await api(`/api/records?ids=${ids}&limit=200`);
    const byIdx = new Map(fresh.items.map((i) => [i.idx, i]));
    state.mode.items = state.mode.items.map((i) => ({...byIdx.get(i.idx), similarity: i.similarity}));
  }
  await loadPage(true);
}

// ---- the list ------------------------------------------------------------------------------
function badge(text, kind, title) {
  return el("span", {class: `badge ${kind}`, title}, text);
}

function personBadge(item) {
  if (item.verdict === "accepted") return badge("accepted", "ok", item.reviewer || "");
  if (item.verdict === "rejected") return badge(`rejected: ${item.verdict_reason}`, "bad", item.reviewer || "");
  if (item.edited && item.edited.length) return badge(`edited ${item.edited.join(", ")}`, "edit");
  return badge("—", "none");
}

function renderList() {
  const {items, total, offset} = state.page;
  const body = $("#list tbody");
  body.replaceChildren(...items.map((item, i) => {
    const box = el("input", {type: "checkbox", "aria-label": `select ${item.id}`});
    box.checked = state.selected.has(item.idx);
    box.addEventListener("click", (event) => { event.stopPropagation(); toggle(item.idx); });
    const machine = item.status === "kept" ? badge("kept", "ok") : badge(`${item.stage}: ${item.reason}`, "bad", item.detail || "");
    const slots = Object.entries(item.slots).map(([k, v]) => `${k}=${short(v)}`).join(" · ");
    const row = el("tr", {"data-idx": item.idx, class: i === state.cursor ? "current" : ""},
      el("td", {}, box),
      el("td", {class: "id"}, item.id, item.similarity !== undefined ? el("small", {}, `similarity ${item.similarity.toFixed(3)}`) : null),
      el("td", {}, machine), el("td", {}, personBadge(item)),
      el("td", {class: "slots"}, slots), el("td", {class: "snippet"}, el("div", {class: "clamp"}, item.snippet)));
    row.addEventListener("click", () => openRecord(i));
    return row;
  }));
  $("#range").textContent = total ? `${offset + 1}–${offset + items.length} of ${total}` : "0 records";
  $("#prev").disabled = !!state.mode || offset === 0;
  $("#next").disabled = !!state.mode || offset + items.length >= total;
  $("#all-matching").textContent = state.mode ? "" : `all ${total} matching:`;
  $("#all-accept").hidden = $("#all-reject").hidden = !!state.mode;
  $("#mode-banner").hidden = !state.mode;
  if (state.mode) $("#mode-banner span").textContent = state.mode.title;
  showSelection();
}

function toggle(idx) {
  if (state.selected.has(idx)) state.selected.delete(idx); else state.selected.add(idx);
  const row = document.querySelector(`#list tr[data-idx="${idx}"] input`);
  if (row) row.checked = state.selected.has(idx);
  showSelection();
}

function showSelection() {
  const n = state.selected.size;
  $("#selected-count").textContent = `${n} selected`;
  for (const id of ["#bulk-accept", "#bulk-reject", "#bulk-similar", "#bulk-origins"]) $(id).disabled = n === 0;
  const items = state.page ? state.page.items : [];
  $("#select-page").checked = items.length > 0 && items.every((i) => state.selected.has(i.idx));
}

// ---- one record ----------------------------------------------------------------------------
async function openRecord(position) {
  const items = state.page.items;
  if (position < 0 || position >= items.length) return;
  state.cursor = position;
  for (const row of document.querySelectorAll("#list tbody tr")) row.classList.toggle("current", Number(row.dataset.idx) === items[position].idx);
  document.querySelector("#list tr.current")?.scrollIntoView({block: "nearest"});
  const detail = await api(`/api/records/${items[position].idx}`);
  const editing = state.detail && state.detail.idx === detail.idx && document.querySelector("#detail textarea:not([disabled])");
  state.detail = detail;
  if (!editing) renderDetail(detail);  // a refresh must not throw away text being typed
}

function renderDetail(d) {
  const decision = d.decision || {};
  const edits = decision.stale ? {} : decision.edits || {};
  const row = {...d.row, ...edits};
  const head = el("div", {class: "detail-head"},
    el("h2", {}, d.id),
    d.status === "kept" ? badge("kept by the machine", "ok") : badge(`rejected at ${d.stage}: ${d.reason}`, "bad"),
    d.detail ? el("p", {class: "note"}, d.detail) : null,
    decision.verdict && !decision.stale ? personBadge({verdict: decision.verdict, verdict_reason: decision.reason, reviewer: decision.reviewer}) : null,
    decision.stale ? badge("decided on an earlier version of this record (not applied)", "edit") : null);
  const actions = el("div", {class: "actions"},
    el("button", {onclick: () => decide("accept"), title: "a"}, "Accept"),
    el("button", {onclick: () => askReason(), title: "r"}, "Reject…"),
    el("button", {onclick: () => similar([d.idx], d.id), title: "s"}, "Similar"));
  const slotTable = el("table", {class: "fields"});
  for (const name of d.slots) {
    const value = row[name];
    let cell;
    if (value !== null && typeof value === "object") cell = JSON.stringify(value);
    else {
      cell = el("select", {"data-relabel": name, "aria-label": `relabel ${name}`});
      const known = (state.schema.facets.slots[name] || []).map(([v]) => v);
      for (const option of new Set([String(value), ...known])) cell.append(el("option", {value: option}, option));
      cell.value = String(value);
      cell.addEventListener("change", () => relabel(name, cell.value, value));
    }
    slotTable.append(el("tr", {}, el("th", {}, name, edits[name] !== undefined ? " ✎" : ""), el("td", {}, cell)));
  }
  for (const name of d.scores) slotTable.append(el("tr", {}, el("th", {}, `${name} (judge)`), el("td", {}, short(row[name]))));
  const fields = el("div", {class: "texts"});
  for (const [name, value] of Object.entries(row)) {
    if (name === "id" || d.slots.includes(name) || d.scores.includes(name)) continue;
    const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
    const box = el("div", {class: "text-field", "data-field": name},
      el("h3", {}, name, edits[name] !== undefined ? " (edited)" : "",
        typeof value === "string" ? el("button", {class: "small", onclick: () => editField(name)}, "Edit") : null),
      el("pre", {}, text));
    fields.append(box);
  }
  const calls = el("div", {class: "calls"}, el("h3", {}, `Lineage: ${d.calls.length} call${d.calls.length === 1 ? "" : "s"}`));
  for (const call of d.calls) calls.append(renderCall(call));
  const history = d.history.length ? el("details", {class: "history"}, el("summary", {}, `${d.history.length} decision${d.history.length === 1 ? "" : "s"}`),
    el("ul", {}, d.history.map((h) => el("li", {class: h.undone ? "undone" : ""},
      `${new Date(h.created * 1000).toLocaleString()} ${h.reviewer || "someone"}: ${h.action}`,
      h.field ? ` ${h.field} = ${h.value}` : "", h.reason ? ` (${h.reason})` : "", h.undone ? " — undone" : "")))) : null;
  $("#detail").replaceChildren(...[head, actions, slotTable, fields, calls, history].filter(Boolean));
}

function renderCall(call) {
  const usage = call.usage || {};
  const cost = call.cost != null ? ` · $${call.cost.toFixed(6)}` : "";
  const summary = `${call.stage} · ${call.model} · ${usage.prompt_tokens || 0}+${usage.completion_tokens || 0} tokens${cost}${call.cached ? " · from cache" : ""}`;
  const messages = (call.messages || []).map((m) => el("div", {class: `message ${m.role}`}, el("b", {}, m.role), el("pre", {}, short(m.content))));
  return el("details", {class: "call"}, el("summary", {}, summary),
    el("p", {class: "note"}, `template ${call.template || "?"} · seed ${call.seed} · finish ${call.finish_reason} · params ${JSON.stringify(call.params || {})}`),
    el("h4", {}, "Prompt sent"), messages.length ? messages : el("p", {class: "note"}, "not in the store"),
    el("h4", {}, "Reply"), el("pre", {}, call.reply ?? ""));
}

function editField(name) {
  const box = document.querySelector(`.text-field[data-field="${CSS.escape(name)}"]`);
  if (!box) return;
  const area = el("textarea", {rows: 10, "aria-label": `edit ${name}`});
  area.value = box.querySelector("pre").textContent;
  const save = () => {
    area.disabled = true;
    decideOne({action: "edit", field: name, value: area.value}).catch(() => { area.disabled = false; });
  };
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) save();
    if (event.key === "Escape") renderDetail(state.detail);
  });
  box.querySelector("pre").replaceWith(area,
    el("p", {}, el("button", {onclick: save}, "Save (Ctrl+Enter)"), " ", el("button", {onclick: () => renderDetail(state.detail)}, "Cancel")));
  area.focus();
}

let relabelTimer = null;
function relabel(name, value, previous) {
  // arrow keys on a focused menu change it once per press: send only where the person stops
  clearTimeout(relabelTimer);
  if (String(previous) === value) return;
  const typed = typeof previous === "number" && !Number.isNaN(Number(value)) ? Number(value) : value;
  relabelTimer = setTimeout(() => decideOne({action: "relabel", field: name, value: typed}), 600);
}

// ---- decisions -----------------------------------------------------------------------------
function targets() {
  if (state.selected.size) return [...state.selected];
  return state.detail ? [state.detail.idx] : [];
}

async function send(payload, label) {
  const result = await api("/api/decide", {...payload, reviewer: reviewer()});
  toast(`${label}: ${result.count} record${result.count === 1 ? "" : "s"} (u to undo)`);
  return result;
}

async function decideOne(payload) {
  if (!state.detail) return;
  await send({...payload, ids: [state.detail.idx]}, payload.action);
  await refresh();
}

async function decide(action, reason = null) {
  const ids = targets();
  if (!ids.length) return;
  const bulk = state.selected.size > 0;
  await send({action, reason, ids}, action);
  if (bulk) state.selected.clear();
  await refresh();
  if (!bulk && state.cursor < state.page.items.length - 1) await openRecord(state.cursor + 1);
}

async function decideAll(action, reason = null) {
  const {total} = state.page;
  if (!confirm(`${action} all ${total} records matching the filter?`)) return;
  await send({action, reason, filter: state.filter}, `${action} all`);
  await refresh();
}

let reasonDone = null;
function askReason(then = (reason) => decide("reject", reason), title = null) {
  const n = state.selected.size || 1;
  $("#reason-title").textContent = title || `Reject ${n} record${n === 1 ? "" : "s"}: why?`;
  $("#reason-box").hidden = false;
  const input = $("#reason-input");
  input.value = state.mode && state.mode.reason ? state.mode.reason : "";
  input.focus();
  reasonDone = then;
}

function closeReason(ok) {
  const reason = $("#reason-input").value.trim();
  if (ok && !reason) { toast("give a reason", true); return; }
  $("#reason-box").hidden = true;
  const then = reasonDone;
  reasonDone = null;
  if (ok && then) then(reason);
}

async function undo() {
  const result = await api("/api/undo", {});
  toast(result.batch ? `undone: ${result.action} of ${result.count} record${result.count === 1 ? "" : "s"}` : "nothing to undo");
  await refresh();
}

// ---- similar records, origins, clusters, agreement -----------------------------------------
async function similar(ids, label) {
  if (!ids.length) return;
  toast("finding similar records (the first search embeds every record: about 30 s per 100,000)…");
  const found = await api("/api/neighbours", {ids, k: 20});
  const name = label || `${ids.length} records`;
  state.mode = {title: `${found.items.length} records most similar to ${name} (all selected: reject them together)`,
                items: found.items, reason: `similar to ${name}`};
  state.selected = new Set(found.items.map((i) => i.idx));
  await loadPage();
}

async function runOrigins() {
  const group = $("#origins-group").value;
  const body = group === "ids" ? {group, ids: [...state.selected]} : {group};
  const found = await api("/api/origins", body);
  $("#origins-size").textContent = `${found.group} flagged of ${found.total} records`;
  const rows = found.rows.map((r) => {
    const bar = el("span", {class: r.lift > 1 ? "bar" : "bar under"});
    bar.style.width = `${Math.min(100, r.lift * 20)}px`;
    const row = el("tr", {}, el("td", {}, r.kind), el("td", {}, r.name), el("td", {}, short(r.value)),
      el("td", {class: "num"}, r.flagged), el("td", {class: "num"}, r.all), el("td", {class: "num"}, r.lift.toFixed(2), " ", bar));
    if (r.kind === "slot") {
      row.classList.add("link");
      row.title = "show these records";
      row.addEventListener("click", () => { showTab("records"); setFilter(`slot.${r.name}`, r.value); });
    }
    return row;
  });
  $("#origins-table tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", {colspan: 6}, "nothing flagged yet"))]));
}

async function runClusters() {
  toast("clustering (the first time embeds every record: about 30 s per 100,000)…");
  const found = await api("/api/clusters", {k: Number($("#cluster-k").value) || 12});
  state.representatives = found.clusters.map((c) => c.record).filter(Boolean);
  $("#review-representatives").hidden = false;
  $("#clusters-table tbody").replaceChildren(...found.clusters.map((c) => el("tr", {},
    el("td", {class: "num"}, c.cluster), el("td", {class: "num"}, c.size), el("td", {class: "num"}, c.decided),
    el("td", {class: "snippet"}, el("div", {class: "clamp"}, c.record ? `${c.record.id}: ${c.record.snippet}` : "")),
    el("td", {}, el("button", {onclick: () => { showTab("records"); setFilter("cluster", c.cluster); }}, "Open")))));
}

async function runAgreement() {
  const params = new URLSearchParams();
  for (const input of document.querySelectorAll("[data-threshold]")) if (input.value) params.set(`threshold.${input.dataset.threshold}`, input.value);
  const found = await api(`/api/agreement?${params}`);
  const box = $("#agreement-body");
  const parts = [];
  for (const [name, a] of Object.entries(found)) {
    const input = el("input", {type: "number", step: "any", value: a.threshold, "data-threshold": name, size: 4});
    input.addEventListener("change", runAgreement);
    const t = a.confusion.table;
    parts.push(el("section", {class: "agreement", "data-field": name},
      el("h3", {}, `${name}: scale ${a.scale.join("–")}`),
      el("p", {}, el("label", {}, "judge passes at ≥ ", input), ` (recipe: ${a.threshold_recipe ?? "none, the scale's middle"})`),
      el("p", {class: "kappa"}, `Cohen's kappa ${a.kappa === null ? "undefined (a rater gave one answer only)" : a.kappa.toFixed(3)}`,
        ` · raw agreement ${a.agreement === null ? "—" : a.agreement.toFixed(3)} · ${a.decided} records decided`),
      el("table", {class: "confusion"},
        el("tr", {}, el("th", {}, ""), el("th", {}, "person accepted"), el("th", {}, "person rejected")),
        el("tr", {}, el("th", {}, "judge pass"), el("td", {class: "num"}, t[0][0]), el("td", {class: "num"}, t[0][1])),
        el("tr", {}, el("th", {}, "judge fail"), el("td", {class: "num"}, t[1][0]), el("td", {class: "num"}, t[1][1]))),
      el("table", {}, el("tr", {}, el("th", {}, "score"), el("th", {}, "accepted"), el("th", {}, "rejected")),
        a.by_score.map((s) => el("tr", {}, el("td", {class: "num"}, s.score), el("td", {class: "num"}, s.accepted), el("td", {class: "num"}, s.rejected)))),
      el("p", {class: "note"}, "kappa at each threshold: ", a.kappa_by_threshold.map((k) => `≥${k.threshold}: ${k.kappa === null ? "—" : k.kappa.toFixed(2)}`).join(" · "))));
  }
  box.replaceChildren(...(parts.length ? parts : [el("p", {class: "note"}, "No judge stage scored this run's records.")]));
}

// ---- navigation ----------------------------------------------------------------------------
function showTab(name) {
  for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `${name}-view`;
  if (name === "agreement") runAgreement();
  if (name === "origins") runOrigins();
}

async function setFilter(key, value) {
  if (value === "" || value == null) delete state.filter[key]; else state.filter[key] = value;
  if (key.startsWith("slot.")) { const s = document.querySelector(`[data-slot="${CSS.escape(key.slice(5))}"]`); if (s) s.value = value; }
  $("#cluster-filter").hidden = state.filter.cluster === undefined;
  $("#cluster-filter span").textContent = state.filter.cluster ?? "";
  state.offset = 0;
  state.mode = null;
  await loadPage();
}

function page(step) {
  if (state.mode) return;
  const next = state.offset + step * state.limit;
  if (next < 0 || next >= state.page.total) return;
  state.offset = next;
  loadPage();
}

function onKey(event) {
  if (!$("#reason-box").hidden) {
    if (event.key === "Enter") closeReason(true);
    if (event.key === "Escape") closeReason(false);
    return;
  }
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
  if (event.key === "Escape") {
    $("#help").hidden = true;
    if (typing) document.activeElement.blur(); else { state.selected.clear(); renderList(); }
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  const actions = {
    j: () => openRecord(state.cursor + 1), k: () => openRecord(state.cursor - 1),
    ArrowDown: () => openRecord(state.cursor + 1), ArrowUp: () => openRecord(state.cursor - 1),
    a: () => decide("accept"), r: () => askReason(), u: () => undo(),
    e: () => { const f = state.detail && Object.keys(state.detail.row).find((n) => typeof state.detail.row[n] === "string" && n !== "id" && !state.detail.slots.includes(n)); if (f) editField(f); },
    l: () => document.querySelector("[data-relabel]")?.focus(),
    x: () => state.detail && toggle(state.detail.idx),
    s: () => similar(targets(), state.selected.size ? null : state.detail?.id),
    n: () => page(1), p: () => page(-1), "/": () => $("#q").focus(), "?": () => { $("#help").hidden = false; },
  };
  if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
}

function wire() {
  for (const button of document.querySelectorAll("#tabs button")) button.addEventListener("click", () => showTab(button.dataset.tab));
  let typing = null;
  $("#q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => setFilter("q", $("#q").value.trim()), 250); });
  for (const id of ["status", "reason", "decision"]) $(`#${id}`).addEventListener("change", () => setFilter(id, $(`#${id}`).value));
  $("#clear-filters").addEventListener("click", () => {
    state.filter = {};
    for (const input of document.querySelectorAll("#filters input, #filters select")) input.value = "";
    setFilter("q", "");
  });
  $("#clear-cluster").addEventListener("click", () => setFilter("cluster", ""));
  $("#back-to-filter").addEventListener("click", () => { state.mode = null; state.selected.clear(); loadPage(); });
  $("#prev").addEventListener("click", () => page(-1));
  $("#next").addEventListener("click", () => page(1));
  $("#select-page").addEventListener("change", () => {
    for (const item of state.page.items) if ($("#select-page").checked) state.selected.add(item.idx); else state.selected.delete(item.idx);
    renderList();
  });
  $("#bulk-accept").addEventListener("click", () => decide("accept"));
  $("#bulk-reject").addEventListener("click", () => askReason());
  $("#bulk-similar").addEventListener("click", () => similar([...state.selected]));
  $("#bulk-origins").addEventListener("click", () => { $("#origins-group").value = "ids"; showTab("origins"); });
  $("#all-accept").addEventListener("click", () => decideAll("accept"));
  $("#all-reject").addEventListener("click", () => askReason((reason) => decideAll("reject", reason), `Reject all ${state.page.total} matching: why?`));
  $("#reason-ok").addEventListener("click", () => closeReason(true));
  $("#reason-cancel").addEventListener("click", () => closeReason(false));
  $("#undo").addEventListener("click", undo);
  $("#help-button").addEventListener("click", () => { $("#help").hidden = false; });
  $("#help-close").addEventListener("click", () => { $("#help").hidden = true; });
  $("#origins-run").addEventListener("click", runOrigins);
  $("#clusters-run").addEventListener("click", runClusters);
  $("#review-representatives").addEventListener("click", () => {
    const items = state.representatives;
    state.mode = {title: `${items.length} records, one per cluster (the one nearest its centre)`, items, reason: null};
    state.selected.clear();
    showTab("records");
    loadPage();
  });
  $("#reviewer").value = localStorage.getItem("synthloom-reviewer") || "";
  $("#reviewer").addEventListener("change", () => localStorage.setItem("synthloom-reviewer", $("#reviewer").value.trim()));
  document.addEventListener("keydown", onKey);
}

wire();
loadSchema().then(() => loadPage());
