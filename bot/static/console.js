// The Muster console: plain JavaScript, no build step. Every piece of text from the server or the
// user goes into the page through textContent, never as HTML.
"use strict";

const NEW_NUMBER = "+16175550199"; // a number of the 555-01XX block, which is kept for fiction
const EXAMPLES = [
  "/muster help",
  "/muster shifts",
  "/muster roster 1",
  "/muster broadcast to=all message=\"Rally at City Hall Saturday 11am. Reply YES if you can come!\"",
  "/muster scheduled",
  "/muster stats",
  "/muster export volunteers",
];
const $ = (id) => document.getElementById(id);
let currentPhone = localStorage.getItem("muster.console.phone") || NEW_NUMBER;
let threadSignature = "";
let currentDisplay = "";
const seenCounts = new Map();

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  let data = {};
  try { data = await response.json(); } catch (_) { data = { error: response.statusText }; }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function showError(message) { $("error").textContent = message || ""; }

function timeOf(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  return when.toLocaleString([], { weekday: "short", hour: "numeric", minute: "2-digit" });
}

// --- The phone -----------------------------------------------------------------------------

function choosePhone(phone) {
  currentPhone = phone;
  localStorage.setItem("muster.console.phone", phone);
  threadSignature = "";
  refreshThread();
  refreshState();
}

async function refreshThread() {
  let data;
  try {
    data = await api(`/console/api/thread?phone=${encodeURIComponent(currentPhone)}`);
  } catch (err) {
    showError(err.message);
    return;
  }
  currentDisplay = data.display;
  const signature = data.items.map((i) => `${i.key}:${i.waiting || ""}`).join("|");
  if (signature === threadSignature) return;
  threadSignature = signature;
  const list = $("thread");
  list.replaceChildren();
  if (data.items.length === 0) {
    list.append(el("li", "empty", "No messages yet. Text JOIN to sign up."));
  }
  for (const item of data.items) {
    const bubble = el("li", item.who === "me" ? "me" : "bot", item.text);
    bubble.dataset.key = item.key;
    if (item.kind) bubble.dataset.kind = item.kind;
    bubble.title = timeOf(item.at);
    if (item.waiting) {
      bubble.classList.add("waiting");
      const note = item.waiting.startsWith("waiting until ")
        ? `held for quiet hours until ${timeOf(item.waiting.slice(14))}`
        : "sending…";
      bubble.append(el("span", "note", note));
    }
    list.append(bubble);
  }
  list.scrollTop = list.scrollHeight;
}

async function refreshState() {
  let data;
  try { data = await api("/console/api/state"); } catch (err) { showError(err.message); return; }
  showError("");
  $("contact").textContent = data.org;
  $("organizer-name").textContent = data.organizer;
  const select = $("phone-select");
  const options = [];
  let known = false;
  for (const p of data.phones) {
    if (p.phone === currentPhone) {
      known = true;
      seenCounts.set(p.phone, p.received);
      $("phone-title").textContent = `${p.display}${p.name ? " · " + p.name : ""} · ${p.status}`;
    }
    const before = seenCounts.has(p.phone) ? seenCounts.get(p.phone) : p.received;
    if (!seenCounts.has(p.phone)) seenCounts.set(p.phone, p.received);
    const unread = p.received - before;
    const label = `${p.name || "(no name yet)"} · ${p.display}${p.status === "active" ? "" : " · " + p.status}`;
    const option = el("option", null, unread > 0 ? `● ${label} (${unread} new)` : label);
    option.value = p.phone;
    options.push(option);
  }
  if (!known) {
    const option = el("option", null, `New number · ${currentDisplay || currentPhone}`);
    option.value = currentPhone;
    options.unshift(option);
    $("phone-title").textContent = `${currentDisplay || currentPhone} · not signed up yet`;
  }
  if (document.activeElement !== select) {
    select.replaceChildren(...options);
    select.value = currentPhone;
  }
  renderInbox(data.inbox);
}

function renderInbox(posts) {
  $("inbox-count").textContent = String(posts.length);
  const list = $("inbox");
  const signature = posts.map((p) => p.id).join(",");
  if (list.dataset.signature === signature) return;
  list.dataset.signature = signature;
  list.replaceChildren(...posts.map((p) => {
    const item = el("li");
    item.append(el("span", "kind", p.kind), document.createTextNode(p.text));
    return item;
  }));
}

async function sendText(event) {
  event.preventDefault();
  const input = $("text");
  const text = input.value;
  if (!text.trim()) return;
  input.value = "";
  try {
    await api("/console/api/text", { phone: currentPhone, text });
    showError("");
  } catch (err) {
    input.value = text;
    showError(err.message);
  }
  await refreshThread();
  refreshState();
}

function useTypedNumber(event) {
  event.preventDefault();
  const typed = $("phone-new").value.trim();
  if (!typed) return;
  // The server says whether it is a real number (E.164 via phonenumbers); show what it made of it.
  api(`/console/api/thread?phone=${encodeURIComponent(typed)}`)
    .then((data) => { $("phone-new").value = ""; showError(""); choosePhone(data.phone); })
    .catch((err) => showError(`${typed}: ${err.message}`));
}

// --- The organizer ---------------------------------------------------------------------------

function appendAnswer(answer) {
  const item = el("li", answer.ok ? "answer" : "answer failed");
  item.append(el("pre", null, answer.text || ""));
  if ((answer.actions && answer.actions.length) || answer.download) {
    const row = el("div", "actions");
    for (const action of answer.actions || []) {
      const button = el("button", action.style === "primary" ? "primary" : "", action.label);
      button.type = "button";
      button.addEventListener("click", async () => {
        for (const b of row.querySelectorAll("button")) b.disabled = true;
        await runAction(action);
      });
      row.append(button);
    }
    if (answer.download) {
      const bytes = Uint8Array.from(atob(answer.download.content_b64), (c) => c.charCodeAt(0));
      const link = el("a", null, `Download ${answer.download.filename}`);
      link.href = URL.createObjectURL(new Blob([bytes], { type: "text/csv" }));
      link.download = answer.download.filename;
      row.append(link);
    }
    item.append(row);
  }
  const transcript = $("transcript");
  transcript.append(item);
  transcript.scrollTop = transcript.scrollHeight;
}

async function runCommand(event) {
  event.preventDefault();
  const input = $("command");
  const text = input.value.trim();
  if (!text || text === "/muster") return;
  $("transcript").append(el("li", "cmd", text));
  input.value = "/muster ";
  try {
    appendAnswer(await api("/console/api/command", { text }));
  } catch (err) {
    appendAnswer({ ok: false, text: err.message });
  }
  refreshState();
}

async function runAction(action) {
  $("transcript").append(el("li", "cmd", action.label));
  try {
    appendAnswer(await api("/console/api/action", { name: action.name, values: action.values }));
  } catch (err) {
    appendAnswer({ ok: false, text: err.message });
  }
  refreshThread();
  refreshState();
}

function setUp() {
  $("text-form").addEventListener("submit", sendText);
  $("command-form").addEventListener("submit", runCommand);
  $("phone-form").addEventListener("submit", useTypedNumber);
  $("phone-select").addEventListener("change", (e) => choosePhone(e.target.value));
  for (const example of EXAMPLES) {
    const chip = el("button", null, example.length > 46 ? example.slice(0, 44) + "…\"" : example);
    chip.type = "button";
    chip.title = example;
    chip.addEventListener("click", () => { $("command").value = example; $("command").focus(); });
    $("chips").append(chip);
  }
  refreshState();
  refreshThread();
  setInterval(refreshThread, 1000);
  setInterval(refreshState, 2000);
}

document.addEventListener("DOMContentLoaded", setUp);
