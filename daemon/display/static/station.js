// A tagd station page: draws each view the server pushes (server-sent events), plays a tone per outcome,
// and says clearly when it has lost tagd. Every word comes from the page (gettext on the server).
"use strict";

(function () {
  const boot = JSON.parse(document.getElementById("tagd-data").textContent);
  const T = boot.texts;
  const app = document.getElementById("app");
  const stationName = boot.view.station;
  const base = "/stations/" + encodeURIComponent(stationName);
  let view = boot.view;
  let current = null; // the last display state that named an item (encoder)
  let lastSound = null;
  let connected = false;
  let muted = localStorage.getItem("tagd-muted") === "1";

  // -- small DOM helpers --------------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, key) => (values[key] ?? ""));
  }
  const ICONS = { info: "●", success: "✔", attention: "!", alarm: "✖" };

  // -- sound: Web Audio tones, no files ---------------------------------------------------------------------
  let audio = null;
  function tone(freq, start, length, type) {
    const ctx = audio;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = type || "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, ctx.currentTime + start);
    gain.gain.exponentialRampToValueAtTime(0.4, ctx.currentTime + start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + start + length);
    osc.connect(gain).connect(ctx.destination);
    osc.start(ctx.currentTime + start);
    osc.stop(ctx.currentTime + start + length + 0.05);
  }
  function play(level) {
    if (muted) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (level === "success") { tone(880, 0, 0.15); tone(1320, 0.16, 0.25); }
      else if (level === "attention") { tone(660, 0, 0.2, "triangle"); tone(660, 0.3, 0.2, "triangle"); }
      else if (level === "alarm") { for (let i = 0; i < 4; i++) { tone(1040, i * 0.5, 0.22, "square"); tone(780, i * 0.5 + 0.25, 0.22, "square"); } }
    } catch (e) { /* no audio device: the colours and icons still say it */ }
  }

  // -- the parts of a page ------------------------------------------------------------------------------------
  function header() {
    const role = T[view.role] || view.role;
    const mute = el("button", { class: "mute", id: "mute", onclick: () => {
      muted = !muted; localStorage.setItem("tagd-muted", muted ? "1" : "0"); draw();
    } }, muted ? "♪✕ " + T.unmute : "♪ " + T.mute);
    return el("header", {},
      el("div", { class: "who" }, el("span", { class: "station-name" }, view.station), " ",
        el("span", { class: "role" }, role), " ", el("span", { class: "library" }, T.library + ": " + view.library)),
      el("div", { class: "clock", id: "clock" }, new Date().toLocaleTimeString(view.language)),
      mute);
  }

  function banners() {
    const out = [];
    if (!connected) out.push(el("div", { class: "banner banner-lost", id: "lost-tagd", role: "alert" }, "⚠ " + T.lost_tagd));
    if (view.lost.length) out.push(el("div", { class: "banner banner-lost", id: "lost-device", role: "alert" }, "⚠ " + fill(T.lost_device, { devices: view.lost.join("・") })));
    if (!view.broker) out.push(el("div", { class: "banner banner-lost", id: "lost-broker", role: "alert" }, "⚠ " + T.lost_broker));
    if (view.outbox_full) out.push(el("div", { class: "banner banner-outbox", id: "outbox-full", role: "alert" }, "⚠ " + T.outbox_full));
    return out;
  }

  function state() {
    const d = view.display;
    return el("section", { class: "state level-" + d.level, id: "state", "data-code": d.code },
      el("div", { class: "icon", "aria-hidden": "true" }, ICONS[d.level] || "●"),
      el("div", { class: "text", id: "state-text" }, d.text));
  }

  function swatch(product) {
    const kind = product === "U-TAG-L1000M" ? "white" : product === "U-TAG-L301" ? "clear" : "none";
    return el("div", { class: "swatch swatch-" + kind, "aria-hidden": "true" });
  }

  function encoder() {
    const d = view.display;
    if (d.params.item_id) current = d;
    const parts = [];
    if (d.code === "ask_librarian") {
      parts.push(el("section", { class: "notice notice-ask", id: "ask-librarian" },
        el("h2", {}, "⚠ " + T.ask_librarian),
        el("p", { class: "item-line" }, (d.params.item_id || "") + " " + (d.params.title ? "『" + d.params.title + "』" : "")),
        el("p", { class: "reason" }, d.words.rule_reason_text || d.words.reason_text || ""),
        d.params.rule_ja ? el("blockquote", { class: "rule-ja" }, el("span", { class: "label" }, T.rule + ": "), d.params.rule_ja) : null));
    }
    if (d.code === "tag_in_use") {
      parts.push(el("section", { class: "notice notice-overwrite", id: "overwrite" },
        el("h2", {}, T.overwrite),
        el("p", {}, d.text),
        el("button", { class: "big", id: "overwrite-button", onclick: (event) => overwrite(event, d.params.item_id) }, T.overwrite_yes)));
    }
    const c = current;
    if (c) {
      const product = c.params.product;
      const step = stepOf(c.code === d.code ? d.code : d.code);
      parts.push(el("div", { class: "panels" },
        el("section", { class: "panel item", id: "item" },
          el("h2", {}, T.item),
          el("div", { class: "label" }, T.item_id),
          el("div", { class: "item-id", id: "item-id" }, c.params.item_id),
          el("div", { class: "item-title", id: "item-title" }, c.params.title || "")),
        product ? el("section", { class: "panel tag", id: "tag" },
          el("h2", {}, T.tag),
          el("div", { class: "tag-row" }, swatch(product), el("div", { class: "tag-words", id: "tag-words" }, c.words.product_text || product)),
          c.words.placement_text ? el("div", { class: "placement" }, el("span", { class: "label" }, T.placement + ": "), c.words.placement_text) : null,
          c.words.cover_text ? el("div", { class: "cover" }, el("span", { class: "label" }, T.cover + ": "), c.words.cover_text) : null) : null,
        step >= 0 ? el("section", { class: "panel steps", id: "steps" },
          el("h2", {}, T.steps),
          el("ol", {}, ["step_wait", "step_write", "step_verify", "step_done"].map((key, index) =>
            el("li", { class: index < step ? "done" : index === step ? "current" : "todo" },
              (index < step || step === 3 ? "✔ " : index === step ? "▶ " : "・") + T[key])))) : null));
    }
    parts.push(recent());
    return parts;
  }
  function stepOf(code) {
    if (["put_tag", "scanned_again", "several_tags", "tag_left", "reader_away"].includes(code)) return 0;
    if (["writing", "tag_left_writing", "tag_back", "password_refused"].includes(code)) return 1;
    if (code === "verifying") return 2;
    if (code === "encoded" || code === "already_encoded") return 3;
    return -1;
  }

  // The sign-in form is drawn once (typing must survive the pushes); its parts are updated in place.
  let operatorForm = null;
  function operatorPanel() {
    if (operatorForm === null) {
      const input = el("input", { id: "operator-name", type: "text", placeholder: T.operator_name, autocomplete: "off" });
      operatorForm = el("section", { class: "panel operator", id: "operator" },
        el("h2", {}, T.operator),
        el("div", { class: "operator-now", id: "operator-now" }),
        el("form", { onsubmit: (event) => { event.preventDefault(); signIn(input.value.trim() || null); input.value = ""; } },
          input, el("button", { type: "submit", id: "sign-in" }, T.sign_in),
          el("button", { type: "button", id: "sign-out", onclick: () => signIn(null) }, T.sign_out)),
        el("div", { class: "counts", id: "counts" }));
    }
    operatorForm.querySelector("#operator-now").textContent = view.operator || T.nobody;
    operatorForm.querySelector("#sign-out").hidden = !view.operator;
    const counts = Object.entries(view.counts);
    operatorForm.querySelector("#counts").replaceChildren(...(counts.length ? [el("h3", {}, T.today),
      el("ul", {}, counts.map(([name, count]) => el("li", {}, el("span", {}, name), el("b", {}, String(count)))))] : []));
    return operatorForm;
  }

  // The shipment's progress and the librarian's pile; the "decided by" field is drawn once (typing survives).
  let pileForm = null;
  function pilePanel() {
    if (pileForm === null) {
      const input = el("input", { id: "decided-by", type: "text", placeholder: T.decided_by, autocomplete: "off" });
      pileForm = el("section", { class: "panel pile", id: "pile" },
        el("div", { class: "progress", id: "progress" }),
        el("h2", {}, T.pile),
        input,
        el("div", { class: "pile-note", id: "pile-note" }),
        el("ol", { id: "pile-items" }));
    }
    const p = view.progress || { file: "", done: 0, total: 0, pile: 0 };
    pileForm.querySelector("#progress").textContent = T.progress
      .replace("{file}", p.file || "").replace("{done}", p.done).replace("{total}", p.total).replace("{pile}", p.pile);
    pileForm.querySelector("#pile-items").replaceChildren(...(view.pile || []).map((entry) =>
      el("li", { "data-item": entry.item_id },
        el("span", { class: "item-id" }, entry.item_id), " ",
        el("span", { class: "item-title" }, entry.title ? "『" + entry.title + "』" : ""), " ",
        el("span", { class: "call-number" }, entry.call_number || ""),
        el("div", { class: "reason" }, entry.reason || ""),
        el("button", { class: "override-clear", onclick: (event) => override(event, entry.item_id, "U-TAG-L301") }, T.override_clear),
        el("button", { class: "override-white", onclick: (event) => override(event, entry.item_id, "U-TAG-L1000M") }, T.override_white))));
    return pileForm;
  }

  function recent(title) {
    return el("section", { class: "panel recent", id: "recent" },
      el("h2", {}, title || T.recent),
      el("ol", {}, view.recent.map((entry) =>
        el("li", { class: "level-" + entry.level, "data-code": entry.code },
          el("span", { class: "mark" }, ICONS[entry.level]), " ",
          el("time", {}, new Date(entry.time).toLocaleTimeString(view.language)), " ",
          entry.text, entry.params.title ? " 『" + entry.params.title + "』" : ""))));
  }

  function checkout() {
    return [
      el("section", { class: "panel pad", id: "pad" }, el("h2", {}, T.pad + " (" + view.pad.length + ")"),
        el("ul", {}, view.pad.map((entry) => el("li", { class: entry.secured ? "secured" : "loan" },
          el("span", { class: "mark" }, entry.secured ? "●" : "✔"), " ", entry.item_id,
          entry.parts > 1 ? " (" + entry.part + "/" + entry.parts + ")" : "",
          entry.title ? " 『" + entry.title + "』" : "", " — ",
          entry.secured === null ? T.unknown : entry.secured ? T.secured : T.not_secured)))),
      view.incomplete.map((set) => el("div", { class: "notice notice-incomplete", id: "incomplete-" + set.item_id },
        "⚠ " + set.item_id + (set.title ? " 『" + set.title + "』 " : " ") + fill(T.incomplete, { present: set.present, parts: set.parts }))),
      view.card ? el("section", { class: "panel card", id: "card" }, el("h2", {}, T.card), view.card.card_id) : null,
      recent(),
    ];
  }

  function gate() {
    const d = view.display;
    const alarms = view.recent.filter((entry) => entry.code === "gate_alarm");
    const fresh = d.code === "gate_alarm" && Date.now() - new Date(d.time).getTime() < 15000;
    return [
      fresh ? el("section", { class: "alarm-screen", id: "alarm", role: "alert" },
        el("div", { class: "alarm-word" }, "✖ " + T.alarm),
        el("div", { class: "alarm-title", id: "alarm-title" }, d.params.title ? "『" + d.params.title + "』" : ""),
        el("div", { class: "alarm-item", id: "alarm-item" }, d.params.item_id || d.params.uid || d.params.what || "")) : null,
      el("section", { class: "panel alarms", id: "alarms" }, el("h2", {}, T.alarms),
        el("ol", {}, alarms.map((entry) => el("li", { class: "level-alarm" },
          el("time", {}, new Date(entry.time).toLocaleTimeString(view.language)), " ",
          entry.params.item_id || entry.params.uid || entry.params.what, entry.params.title ? " 『" + entry.params.title + "』" : "")))),
    ];
  }

  const DESTINATION = {
    to_shelf: "to_shelf", group_filled: "to_shelf",
    to_hold_shelf: "to_hold_shelf", to_hold_shelf_again: "to_hold_shelf", hold_filled: "to_hold_shelf", released_to_hold_shelf: "to_hold_shelf",
    transit: "transit", transit_again: "transit", released_to_transit: "transit",
    deferred: "deferred", deferred_again: "deferred",
  };
  function checkin() {
    const results = view.recent.filter((entry) => DESTINATION[entry.code] || entry.code === "hold_check_failed");
    const slip = results.find((entry) => entry.code === "to_hold_shelf" || entry.code === "released_to_hold_shelf");
    return [
      el("section", { class: "panel results", id: "results" }, el("h2", {}, T.results),
        el("ol", {}, results.map((entry) => {
          const where = DESTINATION[entry.code];
          const p = entry.params;
          return el("li", { class: "result dest-" + (where || "failed") + " level-" + entry.level, "data-code": entry.code },
            el("div", { class: "dest" }, where ? T[where] : ICONS.alarm),
            el("div", { class: "what" },
              el("div", { class: "line" }, p.item_id, p.title ? " 『" + p.title + "』" : ""),
              el("div", { class: "text" }, entry.text),
              p.hold_until ? el("div", {}, T.shelf_until + ": " + p.hold_until) : null,
              p.notify ? el("div", {}, T.notify + ": " + (entry.words.notify_text || p.notify)) : null,
              p.memo ? el("div", { class: "memo" }, T.memo + ": " + p.memo) : null,
              p.to_library ? el("div", {}, T.pickup + ": " + p.to_library) : null));
        }))),
      slip ? el("button", { class: "big print", id: "print-slip", onclick: () => window.print() }, "▤ " + T.print_slip) : null,
      slip ? holdSlip(slip) : null,
    ];
  }
  function holdSlip(entry) {
    const p = entry.params;
    const row = (label, value) => value ? el("div", { class: "slip-row" }, el("span", { class: "label" }, label), el("b", {}, value)) : null;
    return el("section", { class: "slip", id: "hold-slip" },
      el("h2", {}, T.slip_title),
      row(T.item_id, p.item_id), p.title ? el("div", { class: "slip-title" }, p.title) : null,
      row(T.patron, p.patron_ref), row(T.pickup, p.pickup_library), row(T.shelf_until, p.hold_until), row(T.hold, p.hold_id));
  }

  // -- actions ---------------------------------------------------------------------------------------------------
  async function post(path, body) {
    const response = await fetch(base + path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      credentials: "same-origin",
    });
    return response.json();
  }
  async function overwrite(event, itemId) {
    event.target.disabled = true;
    event.target.textContent = T.overwrite_sent;
    await post("/overwrite", { item_id: itemId });
  }
  async function signIn(name) { await post("/operator", { operator: name }); }
  async function override(event, itemId, tag) {
    const decidedBy = document.getElementById("decided-by").value.trim();
    const note = document.getElementById("pile-note");
    if (!decidedBy) { note.textContent = T.decided_by_needed; return; }
    event.target.disabled = true;
    note.textContent = T.override_sent;
    await post("/override", { item_id: itemId, tag: tag, decided_by: decidedBy });
  }

  // -- drawing and the live feed ------------------------------------------------------------------------------
  const live = el("div", { id: "live" });
  app.append(live);
  if (view.role === "encoder") app.append(operatorPanel(), pilePanel());
  function draw() {
    document.body.className = "station role-" + view.role + " level-" + view.display.level + (connected ? "" : " offline");
    const role = { encoder, checkout, gate, checkin }[view.role];
    live.replaceChildren(header(), ...banners(), state(), ...(role ? role() : []).flat().filter(Boolean));
    if (view.role === "encoder") { operatorPanel(); pilePanel(); }
    document.body.dataset.version = String(view.version);
    document.body.dataset.connected = connected ? "1" : "0";
  }
  function take(next) {
    const d = next.display;
    const key = d.code + "@" + d.time;
    if (lastSound !== null && key !== lastSound && ["success", "attention", "alarm"].includes(d.level)) play(d.level);
    lastSound = key;
    view = next;
    draw();
  }
  function connect() {
    const source = new EventSource(base + "/events");
    source.onopen = () => { connected = true; draw(); };
    source.onmessage = (message) => { connected = true; take(JSON.parse(message.data)); };
    source.onerror = () => { connected = false; draw(); }; // EventSource retries by itself
  }
  setInterval(() => {
    const clock = document.getElementById("clock");
    if (clock) clock.textContent = new Date().toLocaleTimeString(view.language);
    if (view.role === "gate" && document.getElementById("alarm")) draw(); // the alarm screen ends by itself
  }, 1000);
  lastSound = view.display.code + "@" + view.display.time;
  draw();
  connect();
})();
