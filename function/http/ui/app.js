// EmotiVoice playground. Plain ES module, no dependencies, no build step: it must work offline inside a
// cluster and be readable by whoever debugs it. It talks to this origin's /v1 API only (plus presigned
// storage URLs for batch manifests) and keeps the optional JWT in sessionStorage, never anywhere else.
//
// Playback streams: raw PCM / WAV go through WebAudio as the bytes arrive, MP3 / AAC through MediaSource;
// Ogg Opus and FLAC (which browsers cannot stream from a fetch) play once complete. "First sound" is the
// moment the first audio is due at the output, measured from pressing Speak.

const $ = (id) => document.getElementById(id);
const API = new URL("../v1/", location.href); // the page lives at <prefix>/ui/
const TOKEN_KEY = "emotivoice.token";
const HISTORY_MAX = 8;
const WAV_HEADER = 44;
const MSE_TYPES = { mp3: "audio/mpeg", aac: "audio/aac" };
const CONTENT_TYPES = { mp3: "audio/mpeg", opus: "audio/ogg", aac: "audio/aac", flac: "audio/flac",
  wav: "audio/wav", pcm: "audio/pcm" };
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const state = {
  config: null, voices: [], filtered: [], selected: null, active: -1,
  ctx: null, run: null, history: [], nextHistoryId: 1, rowHeight: 0,
};

// ---------------------------------------------------------------------------------------------- errors

class ApiProblem extends Error {
  constructor(status, code, message, retryAfter, param) {
    super(message);
    Object.assign(this, { status, code, retryAfter, param });
  }
}

async function problemFrom(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || "the request failed";
  let param = null;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
      param = body.error.param || null;
    }
  } catch { /* not JSON: keep the status line */ }
  return new ApiProblem(response.status, code, message, response.headers.get("Retry-After"), param);
}

/** A sentence a person can act on, for any failure: API errors keep their code for searching logs. */
function explain(error) {
  if (error && error.name === "AbortError") return "Stopped.";
  if (!(error instanceof ApiProblem)) {
    return `Could not reach the server (${error && error.message ? error.message : error}). Check the connection and try again.`;
  }
  const { status, code, message } = error;
  const tail = ` [${status} ${code}]`;
  const field = error.param ? ` (field “${error.param}”)` : "";
  if (status === 401) {
    if (code === "missing_token") return `This server requires an access token: paste a JWT in the Access token field above.${tail}`;
    return `The access token was refused: ${message} Paste a valid token above.${tail}`;
  }
  if (status === 403) return `Your token is valid but not allowed to do this: ${message}${tail}`;
  if (status === 503 || status === 429) {
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : " Try again shortly.";
    const what = code === "overloaded" || code === "queue_timeout" ? "The server is busy"
      : code === "not_ready" ? "The engine is not ready yet" : "The service is unavailable";
    return `${what}: ${message}${wait}${tail}`;
  }
  if (status === 413) return `Too large${field}: ${message}${tail}`;
  if (status >= 400 && status < 500) return `The request was not accepted${field}: ${message}${tail}`;
  return `Server error: ${message}${tail}`;
}

/** Messages appear next to what caused them: "message" under Speak, "batch-message" in the batch form. */
function showMessage(text, kind = "error", where = "message") {
  const box = $(where);
  box.textContent = text;
  box.className = kind === "error" ? "message" : "message info";
  box.dataset.kind = kind;
  box.hidden = false;
}

function clearMessage(where = "message") {
  $(where).hidden = true;
  $(where).textContent = "";
}

// ------------------------------------------------------------------------------------------------- api

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function api(path, init = {}) {
  const response = await fetch(new URL(path, API), { ...init, headers: { ...(init.headers || {}), ...authHeaders() } });
  if (!response.ok) throw await problemFrom(response);
  return response;
}

// ---------------------------------------------------------------------------------------------- voices

const LANGUAGE_WORDS = { zh: "chinese mandarin 中文 普通话", en: "english" };

function haystack(voice) {
  const lang = voice.language || "";
  const words = [voice.id, voice.name, voice.gender, lang, LANGUAGE_WORDS[lang.slice(0, 2)] || "",
    voice.description || "", ...(voice.aliases || [])].join(" ");
  return words.toLowerCase().split(/[\s,;:()/·]+/).filter(Boolean);
}

/** Every term must start one of the voice's words (so "male" does not match "female") or be part of its id. */
function matches(voice, terms) {
  return terms.every((t) => voice._id.includes(t) || voice._words.some((w) => w.startsWith(t)));
}

function setVoices(list) {
  state.voices = list.map((v) => ({ ...v, _id: v.id.toLowerCase(), _words: haystack(v) }));
  const keep = state.selected && state.voices.find((v) => v.id === state.selected.id);
  select(keep || state.voices.find((v) => (v.aliases || []).includes("alloy")) || state.voices[0] || null);
  filterVoices();
}

function filterVoices() {
  const started = performance.now();
  const terms = $("voice-search").value.toLowerCase().split(/\s+/).filter(Boolean);
  state.filtered = terms.length ? state.voices.filter((v) => matches(v, terms)) : state.voices;
  // Start on the selected voice when it is in the list (so it is in view), else on the first match.
  const chosen = state.selected ? state.filtered.indexOf(state.selected) : -1;
  state.active = chosen >= 0 ? chosen : (state.filtered.length ? 0 : -1);
  $("voice-list").scrollTop = 0;
  renderVoiceList(); // sizes the scroll area first, so scrolling to the active row is not clamped
  if (state.active > 0) moveActive(0);
  const list = $("voice-list");
  list.dataset.filterMs = (performance.now() - started).toFixed(2);
  $("voice-count").textContent = terms.length
    ? `${state.filtered.length} of ${state.voices.length} voices`
    : `${state.voices.length} voices`;
}

function rowHeight() {
  if (!state.rowHeight) state.rowHeight = 2.6 * parseFloat(getComputedStyle(document.documentElement).fontSize);
  return state.rowHeight;
}

/** Only the rows in view (plus a margin) exist in the DOM, so 2,000+ speakers cost what 20 do. */
function renderVoiceList() {
  const list = $("voice-list");
  const spacer = $("voice-spacer");
  const h = rowHeight();
  const n = state.filtered.length;
  spacer.style.height = `${n * h}px`;
  const first = Math.max(0, Math.floor(list.scrollTop / h) - 4);
  const last = Math.min(n, Math.ceil((list.scrollTop + (list.clientHeight || 200)) / h) + 4);
  const rows = [];
  for (let i = first; i < last; i++) rows.push(optionElement(state.filtered[i], i, n, h));
  spacer.replaceChildren(...rows);
  const search = $("voice-search");
  if (state.active >= first && state.active < last) search.setAttribute("aria-activedescendant", `voice-opt-${state.active}`);
  else search.removeAttribute("aria-activedescendant");
}

function optionElement(voice, index, count, h) {
  const el = document.createElement("div");
  el.className = index === state.active ? "option active" : "option";
  el.id = `voice-opt-${index}`;
  el.setAttribute("role", "option");
  el.setAttribute("aria-selected", String(state.selected !== null && voice.id === state.selected.id));
  el.setAttribute("aria-setsize", String(count));
  el.setAttribute("aria-posinset", String(index + 1));
  el.style.top = `${index * h}px`;
  el.dataset.voice = voice.id;
  el.append(voice.name || voice.id);
  if (voice.custom) {
    const badge = document.createElement("span");
    badge.className = "alias";
    badge.textContent = "custom";
    badge.title = "Custom voice (voice matching): a mix of the built-in voices listed after it";
    el.append(badge);
  }
  for (const alias of voice.aliases || []) {
    const badge = document.createElement("span");
    badge.className = "alias";
    badge.textContent = alias;
    badge.title = "OpenAI voice name";
    el.append(badge);
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = [voice.id, voice.gender, voice.language, voice.description].filter(Boolean).join(" · ");
  el.append(meta);
  return el;
}

function select(voice) {
  state.selected = voice;
  const line = $("voice-selected");
  if (!voice) {
    line.textContent = "No voice selected.";
  } else {
    const aliases = voice.aliases && voice.aliases.length ? ` · OpenAI: ${voice.aliases.join(", ")}` : "";
    line.textContent = `Selected: ${voice.name || voice.id} (${voice.id}) · ${voice.gender} · ${voice.language}${aliases}`;
  }
  line.dataset.voice = voice ? voice.id : "";
  renderVoiceList();
}

function moveActive(delta) {
  const n = state.filtered.length;
  if (!n) return;
  state.active = Math.min(n - 1, Math.max(0, state.active + delta));
  const list = $("voice-list");
  const h = rowHeight();
  const top = state.active * h;
  if (top < list.scrollTop) list.scrollTop = top;
  else if (top + h > list.scrollTop + list.clientHeight) list.scrollTop = top + h - list.clientHeight;
  renderVoiceList();
}

function setUpVoicePicker() {
  const search = $("voice-search");
  const list = $("voice-list");
  search.addEventListener("input", filterVoices);
  search.addEventListener("keydown", (event) => {
    const page = Math.max(1, Math.floor(list.clientHeight / rowHeight()) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    if (event.key in moves) {
      event.preventDefault();
      moveActive(moves[event.key]);
    } else if (event.key === "Enter") {
      event.preventDefault(); // choosing a voice must not submit the form
      if (state.active >= 0) select(state.filtered[state.active]);
    } else if (event.key === "Escape" && search.value) {
      event.preventDefault();
      search.value = "";
      filterVoices();
    }
  });
  let pending = false;
  list.addEventListener("scroll", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; renderVoiceList(); });
  });
  list.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus in the search box
  list.addEventListener("click", (event) => {
    const option = event.target.closest(".option");
    if (!option) return;
    state.active = Number(option.id.slice("voice-opt-".length));
    select(state.voices.find((v) => v.id === option.dataset.voice));
    search.focus();
  });
}

async function loadVoices() {
  $("voice-count").textContent = "Loading voices…";
  try {
    const body = await (await api("audio/voices")).json();
    setVoices(body.data);
    return true;
  } catch (error) {
    setVoices([]);
    $("voice-count").textContent = "Voices unavailable";
    showMessage(explain(error));
    return false;
  }
}

/** Upload a reference clip to POST /v1/audio/voices, then select the custom voice it became. */
async function createCustomVoice() {
  clearMessage("custom-voice-message");
  const file = $("custom-voice-file").files[0];
  if (!file) {
    showMessage("Choose a recording first.", "error", "custom-voice-message");
    return;
  }
  const form = new FormData();
  form.append("audio_sample", file);
  form.append("name", $("custom-voice-name").value.trim());
  const button = $("custom-voice-button");
  button.disabled = true;
  try {
    const voice = await (await api("audio/voices", { method: "POST", body: form })).json();
    const mix = voice.matches.map((m) => `${m.voice} ${Math.round(m.weight * 100)}%`).join(", ");
    const how = voice.blended ? `a blend of ${mix}` : `spoken as ${voice.spoken_as} (this engine cannot blend; match: ${mix})`;
    showMessage(`${voice.reused ? "Already your voice" : "Created"} “${voice.name}” (${voice.id}): ${how}.`, "info",
      "custom-voice-message");
    await loadVoices();
    const created = state.voices.find((v) => v.id === voice.id);
    if (created) select(created);
  } catch (error) {
    showMessage(explain(error), "error", "custom-voice-message");
  } finally {
    button.disabled = false;
  }
}

// --------------------------------------------------------------------------------------------- controls

function codePoints(text) {
  let n = 0;
  for (const _ of text) n++; // the server counts code points, not UTF-16 units
  return n;
}

function updateCounter() {
  const limit = state.config ? state.config.max_input_chars : 4096;
  const n = codePoints($("text").value);
  const counter = $("counter");
  counter.textContent = `${n} / ${limit}`;
  counter.classList.toggle("counter-over", n > limit);
  counter.dataset.over = String(n > limit);
  counter.title = n > limit ? `The server accepts at most ${limit} characters.` : "";
}

function setUpEmotions(emotions) {
  const chips = $("chips");
  for (const emotion of emotions) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.textContent = `${emotion.zh} ${emotion.id}`;
    chip.dataset.emotion = emotion.id;
    chip.dataset.zh = emotion.zh;
    chip.setAttribute("aria-pressed", "false");
    // EmotiVoice's style encoder was trained on the Chinese labels; every engine understands both.
    chip.addEventListener("click", () => { $("prompt").value = emotion.zh; updateChips(); });
    chips.append(chip);
  }
  $("prompt").addEventListener("input", updateChips);
  updateChips();
}

function updateChips() {
  const prompt = $("prompt").value.trim().toLowerCase();
  for (const chip of $("chips").children) {
    chip.setAttribute("aria-pressed", String(prompt === chip.dataset.zh || prompt === chip.dataset.emotion));
  }
}

function playbackMode(format) {
  if (format === "pcm" || format === "wav") return "webaudio";
  if (MSE_TYPES[format] && window.MediaSource && MediaSource.isTypeSupported(MSE_TYPES[format])) return "mse";
  return "whole";
}

function setUpFormats(formats) {
  const select = $("format");
  for (const format of formats) {
    const option = document.createElement("option");
    option.value = format;
    option.textContent = playbackMode(format) === "whole" ? `${format} (plays when complete)` : `${format} (streamed)`;
    select.append(option);
  }
  select.value = formats.includes("wav") ? "wav" : formats[0];
  const note = () => {
    $("format-note").textContent = playbackMode(select.value) === "whole"
      ? "This browser cannot stream this container; it plays once fully received."
      : "Plays while the rest is still being synthesised.";
  };
  select.addEventListener("change", note);
  note();
}

function setUpSpeed(speed) {
  const input = $("speed");
  input.min = String(speed.min);
  input.max = String(speed.max);
  const show = () => { $("speed-value").textContent = `${Number(input.value).toFixed(2)}×`; };
  input.addEventListener("input", show);
  show();
}

function setUpAuth() {
  $("auth").hidden = false;
  $("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
  $("auth-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    clearMessage();
    if (await loadVoices()) showMessage("Token accepted: voices loaded.", "info");
  });
  $("token-forget").addEventListener("click", async () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $("token").value = "";
    clearMessage();
    await loadVoices();
  });
}

// --------------------------------------------------------------------------------------------- playback

function audioContext() {
  // Created inside the click/submit handler: browsers only let a user gesture start audio.
  if (!state.ctx) state.ctx = new AudioContext();
  if (state.ctx.state === "suspended") state.ctx.resume();
  return state.ctx;
}

function setPlayerState(value) {
  $("player").dataset.state = value;
}

/** Bytes of a 16-bit mono WAV with exact sizes (the stream's header says "unknown size"). */
function wavBlob(samples, rate) {
  const header = new DataView(new ArrayBuffer(WAV_HEADER));
  const data = samples.length * 2;
  const text = (offset, s) => { for (let i = 0; i < s.length; i++) header.setUint8(offset + i, s.charCodeAt(i)); };
  text(0, "RIFF"); header.setUint32(4, 36 + data, true); text(8, "WAVE"); text(12, "fmt ");
  header.setUint32(16, 16, true); header.setUint16(20, 1, true); header.setUint16(22, 1, true);
  header.setUint32(24, rate, true); header.setUint32(28, rate * 2, true); header.setUint16(32, 2, true);
  header.setUint16(34, 16, true); text(36, "data"); header.setUint32(40, data, true);
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32768)));
  return new Blob([header, pcm], { type: "audio/wav" });
}

function concatFloat(parts, total) {
  const out = new Float32Array(total);
  let offset = 0;
  for (const part of parts) { out.set(part, offset); offset += part.length; }
  return out;
}

function markFirstSound(run, at) {
  if (run.firstSound !== null) return;
  run.firstSound = at;
  const delay = Math.max(0, at - performance.now());
  setTimeout(() => {
    if (run.aborted) return;
    if (run.ctx && run.ctx.state !== "running") {
      showMessage("The browser did not start audio output: press play on the player below once synthesis is done.", "info");
      return;
    }
    setPlayerState("playing");
    $("player").dataset.started = "true";
  }, delay);
}

/** Raw PCM / streaming WAV: decode s16le as it arrives and queue buffers back to back on WebAudio. */
async function playWebAudio(response, run) {
  const ctx = run.ctx;
  let rate = run.rate;
  let header = run.format === "wav" ? WAV_HEADER : 0;
  let carry = null;
  let next = 0;
  const reader = response.body.getReader();
  const lastSource = { node: null };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    run.bytes.push(value);
    run.byteCount += value.length;
    let data = value;
    if (carry) { data = new Uint8Array(carry.length + value.length); data.set(carry); data.set(value, carry.length); carry = null; }
    if (header) {
      if (data.length < header) { carry = data; continue; }
      rate = new DataView(data.buffer, data.byteOffset, header).getUint32(24, true) || rate;
      data = data.subarray(header);
      header = 0;
    }
    const usable = data.length - (data.length % 2);
    if (usable < data.length) carry = data.slice(usable);
    if (!usable) continue;
    const view = new DataView(data.buffer, data.byteOffset, usable);
    const samples = new Float32Array(usable / 2);
    for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(2 * i, true) / 32768;
    run.pcm.push(samples);
    run.sampleCount += samples.length;
    const buffer = ctx.createBuffer(1, samples.length, rate);
    buffer.copyToChannel(samples, 0);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    const now = ctx.currentTime;
    if (next < now + 0.02) { if (next) run.underruns++; next = now + 0.03; } // start (or restart after a gap)
    source.start(next);
    if (run.firstSound === null) {
      const latency = (ctx.outputLatency || ctx.baseLatency || 0) * 1000;
      markFirstSound(run, performance.now() + (next - now) * 1000 + latency);
    }
    next += buffer.duration;
    run.sources.push(source);
    lastSource.node = source;
  }
  run.lastByte = performance.now();
  run.rate = rate;
  run.duration = run.sampleCount / rate;
  const samples = concatFloat(run.pcm, run.sampleCount);
  run.samples = samples;
  run.playBlob = wavBlob(samples, rate);
  run.downloadBlob = run.format === "wav" ? run.playBlob : new Blob(run.bytes, { type: CONTENT_TYPES.pcm });
  if (lastSource.node) lastSource.node.onended = () => { if (!run.aborted) setPlayerState("ended"); };
}

function once(target, type) {
  return new Promise((resolve, reject) => {
    target.addEventListener(type, resolve, { once: true });
    target.addEventListener("error", () => reject(new Error(`${type}: media error`)), { once: true });
  });
}

/** MP3 / AAC: append the stream to a MediaSource feeding the <audio> element. */
async function playMediaSource(response, run) {
  const player = $("player");
  const source = new MediaSource();
  const url = URL.createObjectURL(source);
  run.urls.push(url);
  player.src = url;
  await once(source, "sourceopen");
  const buffer = source.addSourceBuffer(MSE_TYPES[run.format]);
  player.addEventListener("playing", () => markFirstSound(run, performance.now()), { once: true });
  const reader = response.body.getReader();
  let started = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    run.bytes.push(value);
    run.byteCount += value.length;
    buffer.appendBuffer(value);
    await once(buffer, "updateend");
    if (!started) {
      started = true;
      player.play().catch((error) => showMessage(`The browser did not start playback: ${error.message}`, "info"));
    }
  }
  run.lastByte = performance.now();
  if (source.readyState === "open") source.endOfStream();
  player.addEventListener("ended", () => setPlayerState("ended"), { once: true });
  run.downloadBlob = new Blob(run.bytes, { type: CONTENT_TYPES[run.format] });
  await decodeForWaveform(run);
}

/** Ogg Opus / FLAC: browsers cannot stream these from a fetch; play the whole file. */
async function playWhole(response, run) {
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    run.bytes.push(value);
    run.byteCount += value.length;
  }
  run.lastByte = performance.now();
  run.downloadBlob = new Blob(run.bytes, { type: CONTENT_TYPES[run.format] });
  run.playBlob = run.downloadBlob;
  const player = $("player");
  const url = URL.createObjectURL(run.playBlob);
  run.urls.push(url);
  player.src = url;
  player.addEventListener("playing", () => markFirstSound(run, performance.now()), { once: true });
  player.addEventListener("ended", () => setPlayerState("ended"), { once: true });
  player.play().catch((error) => showMessage(`The browser did not start playback: ${error.message}`, "info"));
  await decodeForWaveform(run);
}

async function decodeForWaveform(run) {
  try {
    const decoded = await run.ctx.decodeAudioData(await run.downloadBlob.arrayBuffer());
    run.samples = decoded.getChannelData(0);
    run.rate = decoded.sampleRate;
    run.duration = decoded.duration;
  } catch {
    run.samples = new Float32Array(0);
    run.duration = Number.isFinite($("player").duration) ? $("player").duration : 0;
  }
}

function peaks(samples, columns) {
  const out = new Float32Array(columns * 2);
  const per = samples.length / columns;
  for (let c = 0; c < columns; c++) {
    let lo = 0;
    let hi = 0;
    const end = Math.min(samples.length, Math.floor((c + 1) * per));
    for (let i = Math.floor(c * per); i < end; i++) {
      const s = samples[i];
      if (s < lo) lo = s;
      if (s > hi) hi = s;
    }
    out[2 * c] = lo;
    out[2 * c + 1] = hi;
  }
  return out;
}

function drawWaveform(entry) {
  const canvas = $("waveform");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  canvas.height = Math.round(96 * ratio);
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (!entry || !entry.peaks.length) return;
  const columns = entry.peaks.length / 2;
  const mid = canvas.height / 2;
  const step = canvas.width / columns;
  g.fillStyle = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() || "#3a4fd0";
  for (let c = 0; c < columns; c++) {
    const top = mid - entry.peaks[2 * c + 1] * mid;
    const bottom = mid - entry.peaks[2 * c] * mid;
    g.fillRect(c * step, top, Math.max(1, step - 0.5), Math.max(1, bottom - top));
  }
  canvas.setAttribute("aria-label", `Waveform of “${entry.text.slice(0, 40)}”, ${entry.duration.toFixed(2)} s`);
  canvas.dataset.drawn = "true";
}

function ms(value) {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

function showStats(run) {
  const stats = $("stats");
  const total = run.lastByte - run.t0;
  const first = run.firstSound === null ? null : run.firstSound - run.t0;
  const firstByte = run.firstByte - run.t0;
  // Real-time factor as the browser sees it: request time over seconds of audio (lower is faster).
  const rtf = run.duration > 0 ? total / 1000 / run.duration : 0;
  const fallback = run.emotionFallback ? " (prompt not understood: neutral)" : "";
  stats.textContent = `First sound ${first === null ? "—" : ms(first)} (first byte ${ms(firstByte)}) · `
    + `request ${ms(total)} · ${run.duration.toFixed(2)} s of audio · RTF ${rtf < 0.1 ? rtf.toFixed(3) : rtf.toFixed(2)} · `
    + `${(run.byteCount / 1024).toFixed(0)} KiB · ${run.voice}, ${run.emotion}${fallback}`;
  Object.assign(stats.dataset, {
    firstSoundMs: first === null ? "" : first.toFixed(1), firstByteMs: firstByte.toFixed(1), totalMs: total.toFixed(1),
    durationS: run.duration.toFixed(3), rtf: rtf.toFixed(3), bytes: String(run.byteCount),
    mode: run.mode, underruns: String(run.underruns),
  });
}

function stop() {
  const run = state.run;
  if (!run) return;
  run.aborted = true;
  run.abort.abort();
  for (const source of run.sources) { try { source.stop(); } catch { /* not started */ } }
  $("player").pause();
  setPlayerState("stopped");
}

async function speak() {
  stop();
  clearMessage();
  const voice = state.selected;
  if (!voice) {
    showMessage("Pick a voice first: the list is empty until the voices load.");
    return;
  }
  const format = $("format").value;
  const run = {
    format, mode: playbackMode(format), ctx: audioContext(), t0: performance.now(), firstSound: null,
    firstByte: null, lastByte: null, bytes: [], byteCount: 0, pcm: [], sampleCount: 0, sources: [], urls: [], underruns: 0,
    rate: 0, duration: 0, samples: null, playBlob: null, downloadBlob: null, aborted: false,
    abort: new AbortController(), text: $("text").value, voice: voice.id, emotion: "",
  };
  state.run = run;
  const body = { text: run.text, speaker: voice.id, language: $("language").value, speed: Number($("speed").value),
    format, stream: true };
  const prompt = $("prompt").value.trim();
  if (prompt) body.prompt = prompt;
  $("speak-button").disabled = true;
  $("stop-button").disabled = false;
  $("stats").textContent = "Synthesising…";
  setPlayerState("requesting");
  $("player").dataset.started = "false";
  try {
    const response = await api("synthesize", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      signal: run.abort.signal,
    });
    run.firstByte = performance.now(); // headers: the server has the first sentence and starts streaming
    run.rate = Number(response.headers.get("X-Sample-Rate")) || 22050;
    run.voice = response.headers.get("X-Voice") || voice.id;
    run.emotion = response.headers.get("X-Emotion") || "";
    run.emotionFallback = response.headers.get("X-Emotion-Fallback") === "true";
    if (run.mode === "webaudio") await playWebAudio(response, run);
    else if (run.mode === "mse") await playMediaSource(response, run);
    else await playWhole(response, run);
    finish(run);
  } catch (error) {
    if (!run.aborted) {
      setPlayerState("error");
      $("stats").textContent = "";
      showMessage(explain(error));
    } else {
      $("stats").textContent = "Stopped.";
    }
  } finally {
    $("speak-button").disabled = false;
    $("stop-button").disabled = true;
    if (state.run === run) state.run = null;
  }
}

function finish(run) {
  showStats(run);
  const entry = {
    id: state.nextHistoryId++, text: run.text, voice: run.voice, emotion: run.emotion, format: run.format,
    duration: run.duration, stats: $("stats").textContent,
    peaks: run.samples && run.samples.length ? peaks(run.samples, 600) : new Float32Array(0),
    playUrl: URL.createObjectURL(run.playBlob || run.downloadBlob),
    downloadUrl: URL.createObjectURL(run.downloadBlob),
    urls: run.urls,
  };
  state.history.unshift(entry);
  for (const old of state.history.splice(HISTORY_MAX)) {
    for (const url of [old.playUrl, old.downloadUrl, ...old.urls]) URL.revokeObjectURL(url);
  }
  if (run.mode === "webaudio") $("player").src = entry.playUrl; // for replay and seeking; WebAudio already plays
  showEntry(entry);
  renderHistory();
}

function fileName(entry) {
  return `emotivoice-${entry.voice}-${entry.id}.${entry.format}`;
}

function showEntry(entry) {
  drawWaveform(entry);
  const link = $("download");
  link.href = entry.downloadUrl;
  link.download = fileName(entry);
  link.textContent = `Download ${entry.format.toUpperCase()} (${fileName(entry)})`;
  link.hidden = false;
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren(...state.history.map((entry) => {
    const item = document.createElement("li");
    const row = document.createElement("div");
    row.className = "entry";
    const play = document.createElement("button");
    play.type = "button";
    play.className = "secondary";
    play.textContent = "Play";
    play.setAttribute("aria-label", `Play “${entry.text.slice(0, 40)}” (${entry.voice}, ${entry.emotion})`);
    play.addEventListener("click", () => replay(entry));
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = entry.text;
    text.title = entry.text;
    const meta = document.createElement("span");
    meta.className = "muted small";
    meta.textContent = `${entry.voice} · ${entry.emotion} · ${entry.format} · ${entry.duration.toFixed(1)} s`;
    const download = document.createElement("a");
    download.className = "button secondary";
    download.href = entry.downloadUrl;
    download.download = fileName(entry);
    download.textContent = "Download";
    download.setAttribute("aria-label", `Download ${fileName(entry)}`);
    row.append(play, text, meta, download);
    item.append(row);
    return item;
  }));
}

function replay(entry) {
  stop();
  const player = $("player");
  player.src = entry.playUrl;
  setPlayerState("requesting");
  player.addEventListener("playing", () => setPlayerState("playing"), { once: true });
  player.addEventListener("ended", () => setPlayerState("ended"), { once: true });
  player.play().catch((error) => showMessage(`The browser did not start playback: ${error.message}`, "info"));
  showEntry(entry);
  $("stats").textContent = entry.stats;
}

// ------------------------------------------------------------------------------------------------ batch

/** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF, an optional BOM. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  text = text.replace(/^\uFEFF/, "");
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") { row.push(field); field = ""; }
    else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = "";
    } else field += ch;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows.filter((r) => r.some((cell) => cell.trim()));
}

function recipientsFrom(text) {
  const rows = parseCsv(text);
  if (!rows.length) return { recipients: [], errors: ["The CSV is empty."] };
  const header = rows[0].map((h) => h.trim());
  const lower = header.map((h) => h.toLowerCase());
  const nameAt = lower.indexOf("name");
  if (nameAt < 0) return { recipients: [], errors: [`The header row needs a “name” column (found: ${header.join(", ") || "nothing"}).`] };
  const idAt = lower.indexOf("id");
  const voiceAt = lower.indexOf("voice");
  const emotionAt = lower.indexOf("emotion");
  const errors = [];
  const seen = new Set();
  const recipients = rows.slice(1).map((cells, index) => {
    const line = index + 2;
    const id = idAt >= 0 && cells[idAt] && cells[idAt].trim() ? cells[idAt].trim() : `r${index + 1}`;
    if (!ID_PATTERN.test(id)) errors.push(`Line ${line}: id “${id}” may only use letters, digits, “.”, “_” and “-”.`);
    if (seen.has(id)) errors.push(`Line ${line}: id “${id}” appears twice.`);
    seen.add(id);
    const name = (cells[nameAt] || "").trim();
    if (!name) errors.push(`Line ${line}: the name is empty.`);
    const recipient = { id, name, fields: {} };
    if (voiceAt >= 0 && cells[voiceAt] && cells[voiceAt].trim()) recipient.voice = cells[voiceAt].trim();
    if (emotionAt >= 0 && cells[emotionAt] && cells[emotionAt].trim()) recipient.emotion = cells[emotionAt].trim();
    header.forEach((column, at) => {
      if (![nameAt, idAt, voiceAt, emotionAt].includes(at) && column) recipient.fields[column] = (cells[at] || "").trim();
    });
    return recipient;
  });
  if (!recipients.length) errors.push("The CSV has a header row but no recipients.");
  const max = state.config ? state.config.batch.max_recipients : Infinity;
  if (recipients.length > max) errors.push(`${recipients.length} recipients; this server takes at most ${max} per batch.`);
  return { recipients, errors };
}

let csvFromFile = "";

function batchCsv() {
  return $("csv-text").value.trim() ? $("csv-text").value : csvFromFile;
}

function previewBatch() {
  const text = batchCsv();
  const preview = $("batch-preview");
  if (!text.trim()) { preview.textContent = "No recipients yet: choose a CSV file or paste one."; return null; }
  const { recipients, errors } = recipientsFrom(text);
  if (errors.length) {
    preview.textContent = errors.slice(0, 5).join("\n") + (errors.length > 5 ? `\n…and ${errors.length - 5} more.` : "");
    preview.dataset.valid = "false";
    return null;
  }
  const names = recipients.slice(0, 5).map((r) => r.name).join(", ");
  preview.textContent = `${recipients.length} recipient${recipients.length === 1 ? "" : "s"}: ${names}${recipients.length > 5 ? ", …" : ""}`;
  preview.dataset.valid = "true";
  return recipients;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function startBatch() {
  clearMessage("batch-message");
  const recipients = previewBatch();
  if (!recipients) {
    showMessage("The batch was not started: fix the recipients first (see the note above the button).", "error", "batch-message");
    return;
  }
  if (!state.selected) { showMessage("Pick a voice first.", "error", "batch-message"); return; }
  const body = { template: $("template").value, recipients, voice: state.selected.id, speed: Number($("speed").value),
    language: $("language").value, format: $("format").value };
  const prompt = $("prompt").value.trim();
  if (prompt) body.emotion = prompt;
  const button = $("batch-button");
  button.disabled = true;
  $("batch-status").hidden = false;
  $("manifest").hidden = true;
  $("manifest").querySelector("tbody").replaceChildren();
  $("batch-summary").textContent = "Submitting…";
  try {
    let status = await (await api("batches", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) })).json();
    showBatchStatus(status);
    let retries = 0;
    while (status.status !== "completed") {
      await sleep(400);
      try {
        status = await (await api(`batches/${encodeURIComponent(status.id)}`)).json();
        retries = 0;
      } catch (error) {
        // A busy or restarting server is worth waiting for; anything else ends the polling.
        if (!(error instanceof ApiProblem) || error.status !== 503 || ++retries > 10) throw error;
        await sleep(1000 * (Number(error.retryAfter) || 1));
        continue;
      }
      showBatchStatus(status);
    }
    await showManifest(status);
  } catch (error) {
    $("batch-summary").textContent = "The batch did not finish.";
    showMessage(explain(error), "error", "batch-message");
  } finally {
    button.disabled = false;
  }
}

function showBatchStatus(status) {
  const progress = $("batch-progress");
  progress.max = Math.max(1, status.total);
  progress.value = status.done;
  const summary = $("batch-summary");
  summary.textContent = `Batch ${status.id}: ${status.status}, ${status.done} of ${status.total} done `
    + `(${status.ok} ok, ${status.failed} failed).`;
  summary.dataset.status = status.status;
}

async function showManifest(status) {
  const summary = $("batch-summary");
  const url = status.manifest_url;
  if (!url || !/^https?:/i.test(url)) {
    summary.textContent += ` Manifest: ${status.manifest_uri || "(not written)"} on the server; `
      + "a browser cannot open local files, so there are no links here (configure S3 storage for them).";
    return;
  }
  let lines;
  try {
    const response = await fetch(url); // presigned: no Authorization header, no cookies
    if (!response.ok) throw new Error(`storage answered ${response.status}`);
    lines = (await response.text()).split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  } catch (error) {
    const link = document.createElement("a");
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.textContent = "open the manifest directly";
    summary.append(` This page could not read the manifest from storage (${error.message}; for AWS S3 the bucket `
      + "needs a CORS rule allowing GET from this page's origin): ", link, ".");
    return;
  }
  const rows = lines.map((item) => {
    const tr = document.createElement("tr");
    const who = document.createElement("td");
    who.textContent = item.id;
    const what = document.createElement("td");
    what.className = item.status;
    what.textContent = item.status === "ok"
      ? `ok${item.duration_seconds ? ` · ${item.duration_seconds.toFixed(1)} s` : ""}`
      : `failed: ${item.error || item.error_code || "unknown error"}`;
    const audio = document.createElement("td");
    if (item.url && /^https?:/i.test(item.url)) {
      const link = document.createElement("a");
      link.href = item.url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.className = "manifest-link";
      link.textContent = `${item.id} audio`;
      audio.append(link);
    } else {
      audio.textContent = item.uri || "—";
    }
    tr.append(who, what, audio);
    return tr;
  });
  $("manifest").querySelector("tbody").replaceChildren(...rows);
  $("manifest").hidden = false;
  const link = document.createElement("a");
  link.href = url;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.textContent = "manifest.jsonl";
  summary.append(" ", link);
}

function setUpBatch(batch) {
  $("batch-note").textContent = batch.note;
  $("csv-file").addEventListener("change", async () => {
    const file = $("csv-file").files[0];
    csvFromFile = file ? await file.text() : "";
    previewBatch();
  });
  $("csv-text").addEventListener("input", previewBatch);
  $("batch-form").addEventListener("submit", (event) => { event.preventDefault(); startBatch(); });
  previewBatch();
}

// ------------------------------------------------------------------------------------------------ start

async function main() {
  setUpVoicePicker();
  $("custom-voice-form").addEventListener("submit", (event) => { event.preventDefault(); createCustomVoice(); });
  $("text").addEventListener("input", updateCounter);
  $("speak-form").addEventListener("submit", (event) => { event.preventDefault(); speak(); });
  $("stop-button").addEventListener("click", stop);
  window.addEventListener("resize", () => { if (state.history[0]) drawWaveform(state.history[0]); });
  let config;
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (!response.ok) throw await problemFrom(response);
    config = await response.json();
  } catch (error) {
    $("engine-line").textContent = "The page could not load its configuration.";
    showMessage(explain(error));
    return;
  }
  state.config = config;
  $("engine-line").textContent = `Engine: ${config.engine} · input limit ${config.max_input_chars} characters · `
    + (config.auth === "jwt" ? "JWT required for the API" : "open API (no auth)");
  setUpFormats(config.formats);
  setUpSpeed(config.speed);
  setUpEmotions(config.emotions);
  setUpBatch(config.batch);
  updateCounter();
  if (config.auth === "jwt") setUpAuth();
  await loadVoices();
  document.body.dataset.ready = "true";
}

main();
