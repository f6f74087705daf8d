/* Clientora web chat, the visitor's side: history, sending, live replies over SSE.
 * Every piece of text reaches the page through textContent, never as markup. */
(() => {
  "use strict";

  const STRINGS = {
    en: {
      title: "Chat with us",
      shop: "Shop",
      you: "You",
      conversation: "Conversation",
      empty: "Write your question below. We will answer here.",
      label: "Message",
      placeholder: "Write a message…",
      send: "Send",
      hint: "Enter sends the message; Shift+Enter starts a new line.",
      sending: "Sending…",
      failed: "Not sent.",
      retry: "Try again",
      tooFast: "You are sending messages too fast. Wait a moment, then try again.",
      tooLong: "This message is too long.",
      unavailable: "This chat is not available.",
      reconnecting: "Connection lost. Reconnecting…",
      close: "Close chat",
    },
    sq: {
      title: "Bisedoni me ne",
      shop: "Dyqani",
      you: "Ju",
      conversation: "Biseda",
      empty: "Shkruani pyetjen tuaj më poshtë. Do t'ju përgjigjemi këtu.",
      label: "Mesazhi",
      placeholder: "Shkruani një mesazh…",
      send: "Dërgo",
      hint: "Enter e dërgon mesazhin; Shift+Enter fillon një rresht të ri.",
      sending: "Po dërgohet…",
      failed: "Nuk u dërgua.",
      retry: "Provo përsëri",
      tooFast: "Po dërgoni mesazhe shumë shpejt. Prisni pak, pastaj provoni përsëri.",
      tooLong: "Ky mesazh është shumë i gjatë.",
      unavailable: "Kjo bisedë nuk është e disponueshme.",
      reconnecting: "Lidhja u ndërpre. Po rilidhemi…",
      close: "Mbyll bisedën",
    },
    sr: {
      title: "Пишите нам",
      shop: "Продавница",
      you: "Ви",
      conversation: "Разговор",
      empty: "Напишите питање испод. Одговорићемо вам овде.",
      label: "Порука",
      placeholder: "Напишите поруку…",
      send: "Пошаљи",
      hint: "Enter шаље поруку; Shift+Enter почиње нови ред.",
      sending: "Шаље се…",
      failed: "Није послато.",
      retry: "Покушај поново",
      tooFast: "Шаљете поруке пребрзо. Сачекајте тренутак, па покушајте поново.",
      tooLong: "Ова порука је предугачка.",
      unavailable: "Ово ћаскање није доступно.",
      reconnecting: "Веза је прекинута. Поново се повезујемо…",
      close: "Затвори ћаскање",
    },
    "sr-Latn": {
      title: "Pišite nam",
      shop: "Prodavnica",
      you: "Vi",
      conversation: "Razgovor",
      empty: "Napišite pitanje ispod. Odgovorićemo vam ovde.",
      label: "Poruka",
      placeholder: "Napišite poruku…",
      send: "Pošalji",
      hint: "Enter šalje poruku; Shift+Enter počinje novi red.",
      sending: "Šalje se…",
      failed: "Nije poslato.",
      retry: "Pokušaj ponovo",
      tooFast: "Šaljete poruke prebrzo. Sačekajte trenutak, pa pokušajte ponovo.",
      tooLong: "Ova poruka je predugačka.",
      unavailable: "Ovo ćaskanje nije dostupno.",
      reconnecting: "Veza je prekinuta. Ponovo se povezujemo…",
      close: "Zatvori ćaskanje",
    },
  };

  const MAX_TEXT = 2000;
  const VISITOR = /^[A-Za-z0-9_-]{8,64}$/;
  const RECONNECT_MS = 10000;
  const TROUBLE_MS = 6000;

  const $ = (id) => document.getElementById(id);
  const root = $("chat");
  const log = $("log");
  const form = $("composer");
  const input = $("text");
  const sendButton = $("send");
  const statusLine = $("status");
  const emptyNote = $("empty");
  const closeButton = $("close");

  const base = root.dataset.base;
  const channel = root.dataset.channel;
  const params = new URLSearchParams(location.search);
  const embedded = params.get("embed") === "1" && window.parent !== window;
  const lang = pickLanguage(params.get("lang"));
  const t = STRINGS[lang];
  const shopName = root.dataset.shop || t.shop;
  const visitor = visitorId();
  const clock = timeFormat(lang);

  const bySeq = new Map();
  const pending = new Map();
  let lastSeq = 0;
  let source = null;
  let reconnectTimer = 0;
  let troubleTimer = 0;

  /** The first of the visitor's languages we speak (Bosnian and Croatian read Latin Serbian). */
  function pickLanguage(forced) {
    const wanted = [forced, ...(navigator.languages || []), navigator.language];
    for (const tag of wanted) {
      if (!tag) continue;
      const lower = String(tag).toLowerCase();
      const primary = lower.split("-")[0];
      if (primary === "sq" || primary === "en") return primary;
      if (primary === "sr") return lower.includes("-latn") ? "sr-Latn" : "sr";
      if (primary === "bs" || primary === "hr" || primary === "sh") return "sr-Latn";
    }
    return "en";
  }

  function timeFormat(language) {
    // Kosovo, Albania and Serbia read the 24-hour clock, even where a browser lacks their locale.
    const options = { hour: "2-digit", minute: "2-digit" };
    if (language !== "en") options.hourCycle = "h23";
    try {
      return new Intl.DateTimeFormat(language, options);
    } catch {
      return new Intl.DateTimeFormat("en", options);
    }
  }

  function storage() {
    try {
      const store = window.localStorage;
      store.getItem("clientora.probe");
      return store;
    } catch {
      return null; // storage blocked (private mode, third-party iframe policy)
    }
  }

  function randomId() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** The id this browser keeps for the visitor on this chat, made on the first visit. */
  function visitorId() {
    const store = storage();
    const key = "clientora.visitor." + channel;
    let id = store ? store.getItem(key) : null;
    if (!id || !VISITOR.test(id)) {
      id = randomId();
      if (store) {
        try {
          store.setItem(key, id);
        } catch {
          // full or blocked: the id lasts for this page only
        }
      }
    }
    return id;
  }

  function translatePage() {
    document.documentElement.lang = lang;
    const title = root.dataset.shop || t.title;
    $("chat-title").textContent = title;
    document.title = title;
    $("log-label").textContent = t.conversation;
    emptyNote.textContent = t.empty;
    $("text-label").textContent = t.label;
    input.placeholder = t.placeholder;
    sendButton.textContent = t.send;
    $("hint").textContent = t.hint;
    closeButton.setAttribute("aria-label", t.close);
    closeButton.title = t.close;
    closeButton.hidden = !embedded;
  }

  function setStatus(text) {
    if (statusLine.textContent !== text) statusLine.textContent = text;
  }

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function bubble(direction, text, timestampMs) {
    const item = document.createElement("li");
    item.className = "msg msg-" + direction;
    const body = document.createElement("p");
    body.className = "msg-text";
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = (direction === "in" ? t.you : shopName) + ": ";
    body.append(who, document.createTextNode(text));
    const meta = document.createElement("div");
    meta.className = "msg-meta";
    const time = document.createElement("time");
    const when = new Date(timestampMs);
    time.dateTime = when.toISOString();
    time.textContent = clock.format(when);
    const state = document.createElement("span");
    state.className = "msg-state";
    meta.append(time, state);
    item.append(body, meta);
    return item;
  }

  function setState(item, text, failed) {
    item.classList.toggle("msg-failed", Boolean(failed));
    const meta = item.querySelector(".msg-meta");
    meta.querySelector(".msg-state").textContent = text;
    const old = meta.querySelector(".retry");
    if (old) old.remove();
    if (failed) {
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "retry";
      retry.textContent = t.retry;
      retry.addEventListener("click", () => post(item));
      meta.append(retry);
    }
  }

  /** Show one line from the relay; the visitor's own pending message is confirmed in place. */
  function show(line, live) {
    if (typeof line.seq !== "number" || bySeq.has(line.seq)) return;
    const mine = line.message_id ? pending.get(line.message_id) : undefined;
    const follow = nearBottom();
    let item = mine;
    if (mine) {
      pending.delete(line.message_id);
      setState(mine, "", false);
    } else {
      item = bubble(line.direction === "in" ? "in" : "out", String(line.text), line.timestamp_ms);
      const firstPending = log.querySelector("[data-pending]");
      log.insertBefore(item, firstPending);
    }
    delete item.dataset.pending;
    item.dataset.seq = String(line.seq);
    bySeq.set(line.seq, item);
    lastSeq = Math.max(lastSeq, line.seq);
    emptyNote.hidden = true;
    if (follow || !live) scrollDown();
    if (live && embedded && line.direction === "out") {
      // Lets the launcher show a dot while the panel is closed; carries no text.
      window.parent.postMessage({ clientora: "reply" }, "*");
    }
  }

  async function post(item) {
    setState(item, t.sending, false);
    let response;
    try {
      response = await fetch(base + "/messages", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          visitor_id: visitor,
          text: item.dataset.text,
          message_id: item.dataset.messageId,
        }),
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      setState(item, t.failed, true);
      return;
    }
    if (response.ok) {
      if (item.dataset.pending !== undefined) setState(item, "", false);
      if (statusLine.textContent === t.tooFast) setStatus("");
      openStream();
      return;
    }
    if (response.status === 429) setStatus(t.tooFast);
    if (response.status === 404) setStatus(t.unavailable);
    setState(item, t.failed, true);
  }

  function submit() {
    const text = input.value.trim();
    if (!text) return;
    if (text.length > MAX_TEXT) {
      setStatus(t.tooLong);
      return;
    }
    input.value = "";
    autosize();
    const messageId = "m-" + randomId().replace(/-/g, "").slice(0, 24);
    const item = bubble("in", text, Date.now());
    item.dataset.pending = "";
    item.dataset.text = text;
    item.dataset.messageId = messageId;
    pending.set(messageId, item);
    log.append(item);
    emptyNote.hidden = true;
    scrollDown();
    post(item);
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = input.scrollHeight + 2 + "px";
  }

  /** Live replies: EventSource resumes by itself with Last-Event-ID after a drop. */
  function openStream() {
    if (source || reconnectTimer) return;
    const url =
      base + "/events?visitor_id=" + encodeURIComponent(visitor) + "&after=" + String(lastSeq);
    source = new EventSource(url);
    source.addEventListener("open", () => {
      window.clearTimeout(troubleTimer);
      troubleTimer = 0;
      setStatus("");
    });
    source.addEventListener("message", (event) => {
      let line;
      try {
        line = JSON.parse(event.data);
      } catch {
        return;
      }
      show(line, true);
    });
    source.addEventListener("error", () => {
      // The relay ends streams now and then and EventSource resumes within seconds:
      // only a drop that lasts is worth telling the visitor about.
      if (!troubleTimer) {
        troubleTimer = window.setTimeout(() => setStatus(t.reconnecting), TROUBLE_MS);
      }
      if (source && source.readyState === EventSource.CLOSED) {
        // Refused (too many tabs, a restart): try again later from where we are.
        source.close();
        source = null;
        reconnectTimer = window.setTimeout(() => {
          reconnectTimer = 0;
          openStream();
        }, RECONNECT_MS);
      }
    });
  }

  async function loadHistory() {
    try {
      const url = base + "/messages?visitor_id=" + encodeURIComponent(visitor);
      const response = await fetch(url, { credentials: "omit", cache: "no-store" });
      if (response.status === 404) {
        setStatus(t.unavailable);
        return false;
      }
      if (response.ok) {
        for (const line of await response.json()) show(line, false);
      }
    } catch {
      setStatus(t.reconnecting);
    } finally {
      log.setAttribute("aria-busy", "false");
    }
    return true;
  }

  function askClose() {
    if (embedded) window.parent.postMessage({ clientora: "close" }, "*");
  }

  translatePage();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("input", autosize);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey) {
      event.preventDefault();
      submit();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") askClose();
  });
  closeButton.addEventListener("click", askClose);
  window.addEventListener("message", (event) => {
    if (event.source === window.parent && event.data && event.data.clientora === "focus") {
      input.focus();
    }
  });
  loadHistory().then((available) => {
    // A visitor who has never written holds no connection open.
    if (available && lastSeq > 0) openStream();
  });
})();
