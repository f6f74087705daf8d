/* Clientora web chat launcher: a button in the corner of a shop's site that opens the chat.
 * Paste <script src="https://RELAY/webchat/CHANNEL/embed.js" async></script> into the site.
 * Optional attributes on that tag: data-lang="sq|sr|sr-Latn|en", data-position="left",
 * data-color="#0d8478". It knows only the chat's address; it reads nothing from the site. */
(() => {
  "use strict";

  const FALLBACK_PAGE = __PAGE_URL__;
  const script = document.currentScript;
  const src = script && script.src ? script.src : "";
  const pageUrl = src ? src.replace(/\/embed\.js(?:[?#].*)?$/, "") : FALLBACK_PAGE;
  const origin = new URL(pageUrl, location.href).origin;
  const flag = "clientoraChat:" + pageUrl;
  if (window[flag]) return; // pasted twice: one launcher is enough
  window[flag] = true;

  const LABELS = {
    en: ["Open chat", "Close chat", "Chat", "new reply"],
    sq: ["Hap bisedën", "Mbyll bisedën", "Biseda", "përgjigje e re"],
    sr: ["Отвори ћаскање", "Затвори ћаскање", "Ћаскање", "нови одговор"],
    "sr-Latn": ["Otvori ćaskanje", "Zatvori ćaskanje", "Ćaskanje", "novi odgovor"],
  };
  const data = (script && script.dataset) || {};
  const lang = pickLanguage(data.lang);
  const [openLabel, closeLabel, frameTitle, newReply] = LABELS[lang];
  const left = data.position === "left";
  const color = /^#[0-9a-fA-F]{3,8}$/.test(data.color || "") ? data.color : "#0d8478";

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

  const CSS = `
    :host { all: initial; }
    .launcher {
      position: fixed; bottom: 20px; ${left ? "left" : "right"}: 20px; z-index: 2147483000;
      display: inline-flex; align-items: center; justify-content: center;
      width: 56px; height: 56px; padding: 0; border: 0; border-radius: 50%;
      background: ${color}; color: #fff; cursor: pointer;
      box-shadow: 0 4px 14px rgba(0, 0, 0, .25);
    }
    .launcher:focus-visible { outline: 3px solid #1a5fd0; outline-offset: 3px; }
    .launcher svg { width: 28px; height: 28px; fill: currentColor; }
    .dot {
      position: absolute; top: 4px; right: 4px; width: 12px; height: 12px;
      border: 2px solid #fff; border-radius: 50%; background: #c62f3c;
    }
    .panel {
      position: fixed; bottom: 88px; ${left ? "left" : "right"}: 20px; z-index: 2147483000;
      width: 380px; height: min(600px, calc(100vh - 110px));
      border-radius: 14px; overflow: hidden; background: #fff;
      box-shadow: 0 8px 32px rgba(0, 0, 0, .3);
    }
    .panel iframe { display: block; width: 100%; height: 100%; border: 0; }
    [hidden] { display: none !important; }
    @media (max-width: 480px) {
      .panel { inset: 0; width: auto; height: auto; border-radius: 0; }
      .open .launcher { display: none; }
    }
    @media (prefers-color-scheme: dark) { .panel { background: #15181c; } }
  `;

  function icon(path) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const shape = document.createElementNS(ns, "path");
    shape.setAttribute("d", path);
    svg.append(shape);
    return svg;
  }

  const CHAT = "M4 6a2 2 0 0 1 2-2h12a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-7l-4 3.5V17H6a2 2 0 0 1-2-2z";
  const CROSS =
    "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z";

  function start() {
    const host = document.createElement("div");
    host.setAttribute("data-clientora", "chat");
    const shadow = host.attachShadow({ mode: "open" });
    if ("adoptedStyleSheets" in shadow && typeof CSSStyleSheet === "function") {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } else {
      const style = document.createElement("style");
      style.textContent = CSS;
      shadow.append(style);
    }
    const wrap = document.createElement("div");
    const panelId = "clientora-chat-panel";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "launcher";
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", panelId);
    button.setAttribute("aria-label", openLabel);
    button.title = openLabel;
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.hidden = true;
    button.append(icon(CHAT), dot);
    const panel = document.createElement("div");
    panel.id = panelId;
    panel.className = "panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", frameTitle);
    wrap.append(panel, button);
    shadow.append(wrap);
    document.body.append(host);

    let frame = null;

    function open() {
      if (!frame) {
        // Loaded on first open only: a visitor who never opens the chat costs the relay nothing.
        frame = document.createElement("iframe");
        frame.title = frameTitle;
        frame.referrerPolicy = "no-referrer";
        const url = new URL(pageUrl, location.href);
        url.searchParams.set("embed", "1");
        if (data.lang) url.searchParams.set("lang", data.lang);
        frame.src = url.href;
        frame.addEventListener("load", focusChat);
        panel.append(frame);
      }
      panel.hidden = false;
      wrap.classList.add("open");
      dot.hidden = true;
      button.setAttribute("aria-expanded", "true");
      button.setAttribute("aria-label", closeLabel);
      button.title = closeLabel;
      button.replaceChildren(icon(CROSS), dot);
      focusChat();
    }

    function close() {
      panel.hidden = true;
      wrap.classList.remove("open");
      button.setAttribute("aria-expanded", "false");
      button.setAttribute("aria-label", openLabel);
      button.title = openLabel;
      button.replaceChildren(icon(CHAT), dot);
      button.focus();
    }

    function focusChat() {
      if (!frame || panel.hidden) return;
      frame.focus();
      if (frame.contentWindow) frame.contentWindow.postMessage({ clientora: "focus" }, origin);
    }

    button.addEventListener("click", () => (panel.hidden ? open() : close()));
    shadow.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !panel.hidden) close();
    });
    window.addEventListener("message", (event) => {
      if (!frame || event.source !== frame.contentWindow || event.origin !== origin) return;
      const kind = event.data && event.data.clientora;
      if (kind === "close") close();
      if (kind === "reply" && panel.hidden) {
        dot.hidden = false;
        button.setAttribute("aria-label", openLabel + " (" + newReply + ")");
      }
    });
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
