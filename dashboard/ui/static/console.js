// The debug console: reads the app's activity stream (Server-Sent
// Events), filters it by channel and event, pauses, and sends the event
// creator's form without leaving the page (so the stream stays open).
"use strict";
(() => {
  const box = document.getElementById("console");
  if (box) watch();

  function watch() {
    const log = document.getElementById("console-log");
    const status = document.getElementById("console-status");
    const MAX_ROWS = 500;
    let paused = false;
    let held = [];

    const fChannel = document.getElementById("filter-channel");
    const fEvent = document.getElementById("filter-event");
    const matches = (e) => (!fChannel.value || (e.channel || "").includes(fChannel.value)) &&
      (!fEvent.value || (e.event || "").includes(fEvent.value));

    const cell = (tr, text, cls) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    };
    const details = (e) => {
      const parts = [];
      if (e.socket_id) parts.push("socket " + e.socket_id);
      if (e.user_id) parts.push("user " + e.user_id);
      if (e.detail) parts.push(e.detail);
      if (e.data) parts.push("data " + shownData(e) + (e.truncated ? " …" : ""));
      if (e.node) parts.push("node " + e.node);
      return parts.join(" · ");
    };
    // Events from the HTTP API carry their data as a JSON string: show
    // the text inside, as the client receives it.
    const shownData = (e) => {
      if (e.truncated) return e.data;
      try {
        const v = JSON.parse(e.data);
        if (typeof v === "string") return v;
      } catch (_) { /* not JSON: as sent */ }
      return e.data;
    };
    const show = (e) => {
      const tr = document.createElement("tr");
      tr.dataset.type = e.type;
      tr.dataset.channel = e.channel || "";
      tr.dataset.event = e.event || "";
      tr.hidden = !matches(e);
      cell(tr, new Date(e.time).toLocaleTimeString());
      cell(tr, e.type.replace(/_/g, " "), "type t-" + e.type);
      cell(tr, e.channel || "");
      cell(tr, e.event || "");
      cell(tr, e.type === "dropped" ? e.count + " entries dropped: " + (e.detail || "this page fell behind") : details(e), "details");
      log.prepend(tr);
      while (log.rows.length > MAX_ROWS) log.deleteRow(log.rows.length - 1);
    };
    const refilter = () => {
      for (const tr of log.rows) {
        tr.hidden = !!((fChannel.value && !tr.dataset.channel.includes(fChannel.value)) ||
          (fEvent.value && !tr.dataset.event.includes(fEvent.value)));
      }
    };
    fChannel.addEventListener("input", refilter);
    fEvent.addEventListener("input", refilter);
    document.getElementById("console-filters").addEventListener("submit", (ev) => ev.preventDefault());

    const pause = document.getElementById("console-pause");
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? "Resume" : "Pause";
      if (!paused) { held.forEach(show); held = []; }
      status.textContent = paused ? "Paused: new activity is held until you resume." : "Live.";
    });
    document.getElementById("console-clear").addEventListener("click", () => { log.replaceChildren(); held = []; });

    {
      const es = new EventSource(box.dataset.stream);
      es.addEventListener("ready", () => { status.textContent = paused ? "Paused." : "Live."; box.dataset.live = "true"; });
      es.addEventListener("end", (m) => {
        es.close();
        let why = "the stream ended";
        try { why = JSON.parse(m.data).reason; } catch (_) { /* keep the default */ }
        status.textContent = "Stopped: " + why + ". Reload the page to start again.";
        box.dataset.live = "false";
      });
      es.onerror = () => { if (es.readyState !== EventSource.CLOSED) status.textContent = "Reconnecting…"; };
      es.onmessage = (m) => {
        let e;
        try { e = JSON.parse(m.data); } catch (_) { return; }
        if (paused) { if (held.length < MAX_ROWS) held.push(e); return; }
        show(e);
      };
    }
  }

  const form = document.getElementById("event-creator");
  if (form) {
    const result = document.getElementById("creator-result");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
      result.textContent = "Sending…";
      result.className = "";
      try {
        const res = await fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)),
          headers: { Accept: "application/json" }, credentials: "same-origin" });
        let body = {};
        try { body = await res.json(); } catch (_) { body = { error: "The server answered " + res.status + "; reload the page and try again." }; }
        if (res.ok) {
          result.textContent = "Event sent at " + new Date().toLocaleTimeString() + ".";
          result.className = "ok";
        } else {
          result.textContent = body.error || "Not sent (" + res.status + ").";
          result.className = "err";
          const field = body.field && form.elements[body.field];
          if (field) { field.setAttribute("aria-invalid", "true"); field.focus(); }
        }
      } catch (_) {
        result.textContent = "Not sent: the server could not be reached.";
        result.className = "err";
      }
    });
  }
})();
