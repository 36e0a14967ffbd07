// Ticketwerk portal: small enhancements. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Catalog rows open by double-click, or by Enter when focused (manual 6).
  document.querySelectorAll("tr[data-href]").forEach((row) => {
    const open = () => { window.location.href = row.dataset.href; };
    row.addEventListener("dblclick", open);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
  });

  // Screenshots pasted into a text field become attachments of its form.
  document.querySelectorAll("textarea[data-paste-target]").forEach((area) => {
    const input = document.getElementById(area.dataset.pasteTarget);
    if (!input || typeof DataTransfer === "undefined") return;
    area.addEventListener("paste", (e) => {
      const items = Array.from((e.clipboardData || {}).items || []);
      const images = items.filter((i) => i.kind === "file" && i.type.startsWith("image/"));
      if (images.length === 0) return;
      e.preventDefault();
      const all = new DataTransfer();
      Array.from(input.files).forEach((f) => all.items.add(f));
      images.forEach((item, n) => {
        const file = item.getAsFile();
        const ext = file.type.split("/")[1] || "png";
        const stamp = new Date().toISOString().replace(/[:.]/g, "-");
        all.items.add(new File([file], `screenshot-${stamp}-${n + 1}.${ext}`, { type: file.type }));
      });
      input.files = all.files;
    });
  });
});

// Pickers: the "+" of a picker field opens a dialog that searches as you
// type (GET /pickers/<kind>), with arrow keys, Enter and Escape. Without
// JavaScript the same button submits the form and the page shows the
// search in place.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("ticket-form");
  if (!form || typeof HTMLDialogElement === "undefined") return;
  const text = (key) => form.dataset[key] || key;
  const partnerId = () => {
    const input = form.querySelector('input[name="business_partner_id"]');
    return input ? input.value : "";
  };
  const personId = () => {
    const input = form.querySelector('input[name="reported_for_id"]');
    return input ? input.value : "";
  };

  const dialog = document.createElement("dialog");
  dialog.className = "picker-dialog";
  dialog.setAttribute("aria-labelledby", "picker-dialog-title");
  dialog.innerHTML =
    '<form method="dialog" class="picker-dialog-form">' +
    '<h2 id="picker-dialog-title"></h2>' +
    '<label for="picker-dialog-q"></label>' +
    '<input id="picker-dialog-q" type="search" autocomplete="off" role="combobox" aria-expanded="true" aria-controls="picker-dialog-list" aria-autocomplete="list">' +
    '<p class="picker-dialog-status hint" aria-live="polite"></p>' +
    '<ul id="picker-dialog-list" role="listbox" class="picker-list"></ul>' +
    '<div class="actions"><button value="cancel" class="picker-dialog-close"></button></div>' +
    "</form>";
  document.body.appendChild(dialog);
  const q = dialog.querySelector("#picker-dialog-q");
  const list = dialog.querySelector("#picker-dialog-list");
  const status = dialog.querySelector(".picker-dialog-status");
  dialog.querySelector("label").textContent = text("pickerSearch");
  dialog.querySelector(".picker-dialog-close").textContent = text("pickerClose");

  let current = null; // the fieldset being picked for
  let items = [];
  let active = -1;
  let timer = null;
  let request = 0;

  const setActive = (n) => {
    const options = list.querySelectorAll('[role="option"]');
    if (options.length === 0) { active = -1; q.removeAttribute("aria-activedescendant"); return; }
    active = Math.max(0, Math.min(n, options.length - 1));
    options.forEach((o, i) => o.setAttribute("aria-selected", i === active ? "true" : "false"));
    q.setAttribute("aria-activedescendant", options[active].id);
    options[active].scrollIntoView({ block: "nearest" });
  };

  const render = () => {
    list.textContent = "";
    items.forEach((item, i) => {
      const li = document.createElement("li");
      li.id = `picker-option-${i}`;
      li.setAttribute("role", "option");
      li.dataset.id = item.id;
      const label = document.createElement("span");
      label.textContent = item.label;
      const detail = document.createElement("span");
      detail.className = "hint";
      detail.textContent = item.detail ? ` ${item.detail}` : "";
      li.append(label, detail);
      li.addEventListener("click", () => choose(item));
      list.appendChild(li);
    });
    status.textContent = items.length === 0 ? text("pickerNothing") : "";
    setActive(0);
  };

  // The search of what was typed; `pending` is the newest one, so that
  // Enter typed before it has answered chooses from its results.
  let pending = Promise.resolve();
  const search = () => {
    clearTimeout(timer);
    timer = null;
    const fieldset = current;
    const params = new URLSearchParams({ q: q.value, mode: fieldset.dataset.mode });
    if (fieldset.dataset.picker !== "partners") params.set("bp", partnerId());
    if (fieldset.dataset.picker === "systems" && personId()) params.set("first", personId());
    const mine = ++request;
    status.textContent = text("pickerLoading");
    pending = fetch(`/pickers/${fieldset.dataset.picker}?${params}`, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((data) => { if (mine === request) { items = data.items || []; render(); } })
      .catch(() => { if (mine === request) { items = []; list.textContent = ""; status.textContent = text("pickerFailed"); } });
    return pending;
  };

  const setValue = (fieldset, item) => {
    const name = `${fieldset.dataset.field}_id`;
    fieldset.querySelectorAll(`input[name="${name}"]`).forEach((i) => { if (i.type === "radio") i.closest("li").remove(); });
    let input = fieldset.querySelector(`input[type="hidden"][name="${name}"]`);
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      fieldset.appendChild(input);
    }
    const changed = input.value !== (item ? String(item.id) : "");
    input.value = item ? item.id : "";
    fieldset.querySelector(".picked-label").textContent = item ? item.label : text("pickerNone");
    fieldset.querySelector(".picked-detail").textContent = item ? item.detail : "";
    const open = fieldset.querySelector(".picker-open");
    if (open) open.textContent = item ? text("pickerChange") : `+ ${text("pickerChoose")}`;
    const clear = fieldset.querySelector(".picker-clear");
    if (clear) clear.hidden = !item;
    const searchBox = fieldset.querySelector(".picker-search");
    if (searchBox) searchBox.remove();
    // A new business partner: what was chosen of the old one no longer fits.
    if (changed && fieldset.dataset.picker === "partners") {
      form.querySelectorAll('fieldset[data-picker]:not([data-picker="partners"])').forEach((f) => setValue(f, null));
      form.querySelectorAll("fieldset[data-picker] .picker-blocked").forEach((p) => p.remove());
      form.querySelectorAll("fieldset[data-picker] .picker-actions").forEach((a) => { a.hidden = false; });
    }
  };

  const choose = (item) => {
    setValue(current, item);
    const opener = current.querySelector(".picker-open");
    dialog.close();
    if (opener) opener.focus();
  };

  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
  const chooseActive = () => { if (items[active]) choose(items[active]); };
  q.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { e.preventDefault(); setActive(active + 1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); setActive(active - 1); }
    else if (e.key === "Enter") {
      e.preventDefault();
      const answered = timer ? search() : pending;
      answered.then(chooseActive);
    }
  });

  form.querySelectorAll("fieldset[data-picker]").forEach((fieldset) => {
    const open = fieldset.querySelector(".picker-open");
    const clear = fieldset.querySelector(".picker-clear");
    if (open) open.addEventListener("click", (e) => {
      if (fieldset.dataset.picker !== "partners" && !partnerId()) return; // the server says why
      e.preventDefault();
      current = fieldset;
      dialog.querySelector("h2").textContent = fieldset.querySelector("legend").textContent;
      q.value = "";
      items = [];
      list.textContent = "";
      dialog.showModal();
      q.focus();
      search();
    });
    if (clear) clear.addEventListener("click", (e) => { e.preventDefault(); setValue(fieldset, null); if (open) open.focus(); });
  });
});

// Passkeys (WebAuthn): registering one on the security page, and using
// one as the second factor. The server's options come as JSON with
// base64url fields; the browser wants ArrayBuffers, and the answer goes
// back as JSON with base64url fields again.
(() => {
  const fromB64 = (s) => {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  };
  const toB64 = (buf) => {
    const bytes = new Uint8Array(buf);
    let bin = "";
    bytes.forEach((b) => { bin += String.fromCharCode(b); });
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const post = async (url, fields) => {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
      body: new URLSearchParams(fields),
    });
    let body = {};
    try { body = await response.json(); } catch (_) { body = {}; }
    return { ok: response.ok, body };
  };
  const show = (el, text) => { el.textContent = text; el.hidden = false; };
  const supported = () => window.PublicKeyCredential && navigator.credentials;

  async function register(form) {
    const error = form.querySelector("#passkey-error");
    error.hidden = true;
    const name = form.querySelector("input[name=name]").value.trim();
    const csrf = form.dataset.csrf;
    const start = await post(form.dataset.start, { csrf });
    if (!start.ok) { show(error, start.body.error || form.dataset.failed || ""); return; }
    const options = start.body.publicKey;
    options.challenge = fromB64(options.challenge);
    options.user.id = fromB64(options.user.id);
    (options.excludeCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
    let credential;
    try {
      credential = await navigator.credentials.create({ publicKey: options });
    } catch (e) {
      show(error, e.message);
      return;
    }
    const answer = {
      id: credential.id,
      rawId: toB64(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {
        attestationObject: toB64(credential.response.attestationObject),
        clientDataJSON: toB64(credential.response.clientDataJSON),
        transports: credential.response.getTransports ? credential.response.getTransports() : [],
      },
    };
    const done = await post(form.dataset.finish, { csrf, name, credential: JSON.stringify(answer) });
    if (done.body.redirect) { window.location.href = done.body.redirect; return; }
    show(error, done.body.error || "");
  }

  async function signIn(box) {
    const error = box.querySelector("#passkey-error");
    error.hidden = true;
    const csrf = box.dataset.csrf;
    const start = await post(box.dataset.start, { csrf });
    if (start.body.redirect) { window.location.href = start.body.redirect; return; }
    if (!start.ok) { show(error, start.body.error || ""); return; }
    const options = start.body.publicKey;
    options.challenge = fromB64(options.challenge);
    (options.allowCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
    let assertion;
    try {
      assertion = await navigator.credentials.get({ publicKey: options });
    } catch (e) {
      show(error, e.message);
      return;
    }
    const answer = {
      id: assertion.id,
      rawId: toB64(assertion.rawId),
      type: assertion.type,
      extensions: assertion.getClientExtensionResults ? assertion.getClientExtensionResults() : {},
      response: {
        authenticatorData: toB64(assertion.response.authenticatorData),
        clientDataJSON: toB64(assertion.response.clientDataJSON),
        signature: toB64(assertion.response.signature),
        userHandle: assertion.response.userHandle ? toB64(assertion.response.userHandle) : null,
      },
    };
    const done = await post(box.dataset.finish, { csrf, credential: JSON.stringify(answer) });
    if (done.body.redirect) { window.location.href = done.body.redirect; return; }
    show(error, done.body.error || "");
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!supported()) return;
    const form = document.getElementById("passkey-register");
    if (form) {
      form.hidden = false;
      form.addEventListener("submit", (e) => { e.preventDefault(); register(form); });
    }
    const box = document.getElementById("passkey-sign-in");
    if (box) {
      box.hidden = false;
      box.querySelector("#use-passkey").addEventListener("click", () => signIn(box));
    }
  });
})();
