// The kiosk page: draws the board's snapshot from the server-sent event stream, plays the tones with Web
// Audio, and posts staff actions as JSON. Data is put in the page with textContent only, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let lastToneSeq = null;
  let audio = null;
  let current = null;

  // -- tones ----------------------------------------------------------------------------------------
  function audioContext() {
    if (audio === null) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return null;
      audio = new Ctx();
    }
    return audio;
  }

  function note(ctx, freq, start, length, type, gain) {
    const osc = ctx.createOscillator();
    const vol = ctx.createGain();
    osc.type = type;
    osc.frequency.value = freq;
    vol.gain.setValueAtTime(gain, ctx.currentTime + start);
    vol.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + start + length);
    osc.connect(vol).connect(ctx.destination);
    osc.start(ctx.currentTime + start);
    osc.stop(ctx.currentTime + start + length + 0.02);
  }

  // Success: one bright rising "pi-pon". Error: three low buzzes, impossible to mistake for success.
  const TONES = {
    success: (ctx) => { note(ctx, 1046, 0, 0.12, "sine", 0.4); note(ctx, 1568, 0.13, 0.18, "sine", 0.4); },
    error: (ctx) => { for (let i = 0; i < 3; i++) note(ctx, 196, i * 0.22, 0.16, "square", 0.3); },
    attention: (ctx) => { note(ctx, 660, 0, 0.15, "triangle", 0.35); note(ctx, 523, 0.2, 0.25, "triangle", 0.35); },
  };

  function playTone(kind) {
    document.body.dataset.tone = kind;
    document.body.dataset.toneCount = String(Number(document.body.dataset.toneCount || 0) + 1);
    const ctx = audioContext();
    if (!ctx || !TONES[kind]) return;
    if (ctx.state === "suspended") {
      ctx.resume().catch(() => {});
      $("sound-hint").hidden = false;
    }
    TONES[kind](ctx);
  }

  document.addEventListener("pointerdown", () => {
    const ctx = audioContext();
    if (ctx && ctx.state === "suspended") ctx.resume().then(() => { $("sound-hint").hidden = true; });
  });

  // -- drawing --------------------------------------------------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function render(s) {
    current = s;
    document.body.dataset.screen = s.screen;
    document.body.dataset.link = s.online ? "online" : "offline";
    const state = $("state");
    state.className = "state " + s.screen;
    $("title").textContent = s.title;
    $("message").textContent = s.message;

    $("scan").hidden = !s.scan;
    if (s.scan) {
      $("scan-municipality").textContent = s.scan.municipality_name;
      $("scan-voucher").textContent = s.scan.voucher_no;
      $("scan-dose").textContent = s.scan.dose ? String(s.scan.dose) : "?";
      $("scan-status").textContent = s.scan.status_label;
      $("scan-source").textContent = s.scan.source_label;
    }
    $("hold").hidden = !s.hold;
    $("dose-choice").hidden = !(s.hold && s.hold.needs_dose);
    $("confirm").hidden = !!(s.hold && s.hold.needs_dose);
    $("close-box").hidden = s.screen !== "error" && !(s.screen === "attention" && !s.hold);

    const link = $("link");
    link.textContent = s.link_label;
    link.className = "badge " + (s.online ? "online" : "offline");
    $("link-detail").hidden = !s.link_detail;
    $("link-detail").textContent = s.link_detail;
    $("queue").textContent = String(s.queue_depth);
    $("today").textContent = "本日(" + s.today + ")";
    $("count").textContent = String(s.count_total);
    $("count-vaccinated").textContent = String(s.count_vaccinated);
    $("count-screened").textContent = String(s.count_screened);

    const p = s.preset;
    $("preset-summary").textContent = [
      p.administered_on ? "接種日 " + p.administered_on : "接種日 読み取った日",
      "会場 " + p.venue_id, p.maker_label, "ロット " + p.lot, "医師 " + p.doctor, "既定 " + p.status_label,
    ].join(" ／ ");
    $("preset-warning").hidden = !p.date_warning;
    $("preset-warning").textContent = p.date_warning;

    const recent = $("recent");
    recent.replaceChildren(...s.recent.map((e) => {
      const li = el("li", "entry " + e.state + (e.voided ? " voided" : "") + (e.op === "void" ? " void" : ""));
      li.dataset.recordId = e.record_id;
      li.append(el("span", "time", e.time), el("span", "muni", e.municipality_name),
        el("span", "no", e.voucher_no), el("span", "dose", e.dose + "回目"), el("span", "status", e.status_label),
        el("span", "state-label", e.voided ? "取消済" : e.state_label));
      for (const w of e.warning_labels) li.append(el("span", "warn", "⚠ " + w));
      if (e.reason_label) li.append(el("span", "reason", e.reason_label));
      if (e.undoable) {
        const b = el("button", "btn undo", "取消");
        b.type = "button";
        b.addEventListener("click", () => undo(e));
        li.append(b);
      }
      return li;
    }));

    const notice = (n) => {
      const li = el("li", "notice");
      li.append(el("b", "", n.label), el("span", "no", " 券番号 " + n.voucher_no + " "), el("span", "", n.detail));
      return li;
    };
    $("rejections").replaceChildren(...s.rejections.map(notice));
    $("warnings").replaceChildren(...s.warnings.map(notice));
    $("no-notices").hidden = s.rejections.length + s.warnings.length > 0;

    if (lastToneSeq !== null && s.tone_seq > lastToneSeq && s.tone) playTone(s.tone);
    lastToneSeq = s.tone_seq;
  }

  // -- actions --------------------------------------------------------------------------------------
  async function post(url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
      });
    } catch (err) {
      return { ok: false, problem: { message: "ステーションに接続できません", field: "" } };
    }
    const data = await response.json().catch(() => ({}));
    if (response.ok) { render(data); return { ok: true }; }
    return { ok: false, problem: { message: data.message || "エラー", field: data.field || "" } };
  }

  function undo(entry) {
    const text = "券番号 " + entry.voucher_no + " " + entry.dose + "回目 の登録を取り消しますか？";
    if (window.confirm(text)) post("/api/undo", { record_id: entry.record_id });
  }

  $("confirm").addEventListener("click", () => {
    if (current && current.hold) post("/api/hold/confirm", { hold_id: current.hold.hold_id });
  });
  $("discard").addEventListener("click", () => {
    if (current && current.hold) post("/api/hold/discard", { hold_id: current.hold.hold_id });
  });
  for (const b of document.querySelectorAll("button.dose")) {
    b.addEventListener("click", () => {
      if (current && current.hold) {
        post("/api/hold/confirm", { hold_id: current.hold.hold_id, dose: Number(b.dataset.dose) });
      }
    });
  }
  $("close").addEventListener("click", () => post("/api/dismiss", {}));

  const dialog = $("preset-dialog");
  const form = $("preset-form");
  $("open-preset").addEventListener("click", () => {
    if (!current) return;
    const p = current.preset;
    form.elements.administered_on.value = p.administered_on;
    form.elements.venue_id.value = p.venue_id;
    form.elements.maker.value = p.maker;
    form.elements.lot.value = p.lot;
    form.elements.doctor.value = p.doctor;
    form.elements.unstated_dose.value = p.unstated_dose === null ? "" : String(p.unstated_dose);
    for (const r of form.querySelectorAll("input[name=status]")) r.checked = r.value === p.status;
    for (const e of form.querySelectorAll(".error")) e.textContent = "";
    dialog.showModal();
  });
  $("cancel-preset").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const e of form.querySelectorAll(".error")) e.textContent = "";
    const f = form.elements;
    const checked = form.querySelector("input[name=status]:checked");
    const result = await post("/api/preset", {
      administered_on: f.administered_on.value, venue_id: f.venue_id.value, maker: f.maker.value,
      lot: f.lot.value, doctor: f.doctor.value, status: checked ? checked.value : "vaccinated",
      unstated_dose: f.unstated_dose.value ? Number(f.unstated_dose.value) : null,
    });
    if (result.ok) { dialog.close(); return; }
    const slot = form.querySelector('[data-error-for="' + result.problem.field + '"]') || $("preset-error");
    slot.textContent = result.problem.message;
  });

  // -- the event stream -----------------------------------------------------------------------------
  function connect() {
    const source = new EventSource("/events");
    source.addEventListener("state", (event) => render(JSON.parse(event.data)));
    source.addEventListener("open", () => { document.body.dataset.stream = "open"; });
    source.addEventListener("error", () => {
      document.body.dataset.stream = "lost";
      const link = $("link");
      link.textContent = "画面の接続が切れました";
      link.className = "badge offline";
    });
  }
  connect();
})();
