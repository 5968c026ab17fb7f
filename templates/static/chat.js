/* landkort chat: a thin view over the server's conversation (intake/chat.py).
 *
 * Talks JSON over a WebSocket at /chat/ws:
 *   → {type: "say", text}
 *   ← {type: "history", lang, switch, messages: [{from: "user", text} | {from: "bot", reply}]}
 *   ← {type: "bot", lang, switch, replies: [reply]}
 *   ← {type: "error", code}
 * "switch" lists the other languages: [{lang, label, command}]; a language button says
 * its command. The page's #chat-texts holds this script's words in every language, each
 * language's under its code; a text with a count is given by plural category.
 * Every text from the server or the person is put on the page with textContent, never
 * as markup. A button is only a shortcut for typing its value.
 */
(function () {
  "use strict";

  var root = document.getElementById("chat");
  if (!root || !("WebSocket" in window)) { return; }

  var texts = JSON.parse(document.getElementById("chat-texts").textContent);
  var lang = root.getAttribute("data-lang");
  var maxChars = parseInt(root.getAttribute("data-max"), 10) || 2000;
  var log = document.getElementById("chat-log");
  var statusEl = document.getElementById("chat-status");
  var composer = document.getElementById("chat-composer");
  var input = document.getElementById("chat-input");
  var sendBtn = document.getElementById("chat-send");
  var counter = document.getElementById("chat-counter");
  var langBox = document.getElementById("chat-lang");
  var fallback = document.getElementById("chat-fallback");

  var ws = null;
  var failures = 0;
  var waiting = false;
  var lastReply = null;
  var viaButton = false;
  var pendingText = null;

  function t(key) {
    return (texts[lang] && texts[lang][key]) || key;
  }

  function tn(key, n) {
    /* A text with a count: the form for n's plural category in this language. */
    var forms = (texts[lang] && texts[lang][key]) || {};
    var category = "other";
    try { category = new Intl.PluralRules(lang).select(n); } catch (e) { /* no Intl */ }
    var form = forms[category] || forms.other || key;
    return form.replace("%(n)s", n.toLocaleString(lang));
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function hidden(text) { return el("span", "visually-hidden", text); }

  function setStatus(message, isError) {
    statusEl.textContent = message || "";
    statusEl.className = "chat-status" + (isError ? " error" : "");
    statusEl.setAttribute("role", isError ? "alert" : "status");
  }

  function reveal(firstNew) {
    /* Bring the newest message just above the composer — but never scroll the start of a
       long new reply (the summary) out of view. Instant: no half-way states. */
    var last = log.lastElementChild;
    if (!last) { return; }
    var y = window.pageYOffset;
    var composerHeight = composer.hidden ? 0 : composer.offsetHeight;
    var target = last.getBoundingClientRect().bottom + y + composerHeight + 16 - window.innerHeight;
    if (firstNew) {
      target = Math.min(target, firstNew.getBoundingClientRect().top + y - 16);
    }
    window.scrollTo(0, Math.max(0, target));
  }

  /* ---- rendering -------------------------------------------------------------------- */

  function renderUser(text) {
    var li = el("li", "msg user");
    li.appendChild(hidden(t("chat.you") + ":"));
    var bubble = el("div", "bubble");
    bubble.appendChild(el("p", "msg-text", text));
    li.appendChild(bubble);
    log.appendChild(li);
  }

  function renderRows(reply, active) {
    var table = el("table", "chat-summary");
    reply.rows.forEach(function (row) {
      var tr = el("tr", row.changed ? "changed" : "");
      tr.appendChild(el("th", "", row.label)).setAttribute("scope", "row");
      var td = el("td");
      if (row.changed) {
        td.appendChild(el("span", "badge warn", t("chat.changed")));
        td.appendChild(document.createTextNode(" "));
        var del = el("del");
        del.appendChild(hidden(t("chat.before") + ": "));
        del.appendChild(document.createTextNode(row.old));
        td.appendChild(del);
        td.appendChild(el("br"));
      }
      td.appendChild(el("span", "row-value", row.value));
      tr.appendChild(td);
      var action = el("td", "row-action");
      if (active) {
        var b = el("button", "secondary small", row.action);
        b.type = "button";
        b.appendChild(hidden(" " + row.label));
        b.addEventListener("click", function () { send(row.edit, row.action + " " + row.label, true); });
        action.appendChild(b);
      }
      tr.appendChild(action);
      table.appendChild(tr);
    });
    return table;
  }

  function renderButtons(reply) {
    var box = el("div", "chat-choices");
    var options = reply.buttons.filter(function (b) { return b.kind === "option"; });
    var commands = reply.buttons.filter(function (b) { return b.kind !== "option"; });
    if (reply.multi && options.length) {
      var group = el("div", "multi");
      group.setAttribute("role", "group");
      var chosen = [];
      var go = el("button", "continue", t("chat.continue"));
      go.type = "button";
      options.forEach(function (opt) {
        var b = el("button", "choice toggle", opt.label);
        b.type = "button";
        b.setAttribute("aria-pressed", opt.selected ? "true" : "false");
        if (opt.selected) { chosen.push(opt.value); }
        b.addEventListener("click", function () {
          var on = b.getAttribute("aria-pressed") !== "true";
          b.setAttribute("aria-pressed", on ? "true" : "false");
          var i = chosen.indexOf(opt.value);
          if (on && i < 0) { chosen.push(opt.value); }
          if (!on && i >= 0) { chosen.splice(i, 1); }
          go.disabled = chosen.length === 0;
        });
        group.appendChild(b);
      });
      go.disabled = chosen.length === 0;
      go.addEventListener("click", function () {
        var ordered = options.map(function (o) { return o.value; })
          .filter(function (v) { return chosen.indexOf(v) >= 0; });
        send(ordered.join(", "), null, true);
      });
      box.appendChild(group);
      box.appendChild(go);
    } else {
      options.forEach(function (opt) {
        var b = el("button", "choice" + (opt.selected ? " selected" : ""));
        b.type = "button";
        b.appendChild(el("span", "choice-label", opt.label));
        if (opt.help) { b.appendChild(el("span", "choice-help", opt.help)); }
        b.addEventListener("click", function () { send(opt.value, opt.label, true); });
        box.appendChild(b);
      });
    }
    if (commands.length) {
      var row = el("div", "commands");
      commands.forEach(function (cmd) {
        var b = el("button", cmd.kind === "suggestion" || cmd.kind === "primary" ? cmd.kind : "secondary", cmd.label);
        b.type = "button";
        if (cmd.lang) { b.setAttribute("lang", cmd.lang); }
        b.addEventListener("click", function () { send(cmd.value, cmd.label, true); });
        row.appendChild(b);
      });
      box.appendChild(row);
    }
    return box;
  }

  function renderBot(reply, active) {
    var li = el("li", "msg bot tone-" + reply.tone + (active ? " live" : ""));
    li.appendChild(hidden(t("chat.bot") + ":"));
    var bubble = el("div", "bubble");
    if (reply.progress) { bubble.appendChild(el("p", "msg-progress", reply.progress)); }
    bubble.appendChild(el("p", "msg-text", reply.text));
    if (reply.rows && reply.rows.length) { bubble.appendChild(renderRows(reply, active)); }
    li.appendChild(bubble);
    if (active && reply.buttons && reply.buttons.length) { li.appendChild(renderButtons(reply)); }
    log.appendChild(li);
    return li;
  }

  function retire() {
    /* Earlier questions' buttons go away once answered: one live question at a time. */
    Array.prototype.forEach.call(log.querySelectorAll(".msg.live"), function (li) {
      li.classList.remove("live");
      var actions = li.querySelector(".chat-choices");
      if (actions) { li.removeChild(actions); }
      Array.prototype.forEach.call(li.querySelectorAll(".row-action"), function (cell) {
        cell.textContent = "";
      });
    });
  }

  function showTyping() {
    var li = el("li", "msg bot typing");
    li.id = "chat-typing";
    li.appendChild(hidden(t("chat.typing")));
    var bubble = el("div", "bubble");
    bubble.setAttribute("aria-hidden", "true");
    for (var i = 0; i < 3; i++) { bubble.appendChild(el("span", "dot")); }
    li.appendChild(bubble);
    log.appendChild(li);
  }

  function hideTyping() {
    var typing = document.getElementById("chat-typing");
    if (typing) { typing.parentNode.removeChild(typing); }
  }

  function adaptComposer(reply) {
    lastReply = reply;
    var kind = reply ? reply.input : "text";
    var modes = {email: "email", tel: "tel", url: "url"};
    input.setAttribute("inputmode", modes[kind] || "text");
    input.setAttribute("autocomplete", kind === "email" ? "email" : kind === "tel" ? "tel" : "off");
    input.setAttribute("autocapitalize", modes[kind] ? "off" : "sentences");
    input.setAttribute("spellcheck", modes[kind] ? "false" : "true");
    input.rows = kind === "textarea" ? 4 : 1;
    input.placeholder = t("chat.placeholder");
    sendBtn.textContent = t("chat.send");
    document.documentElement.setAttribute("lang", lang);
    autosize();
  }

  function focusNext(first) {
    if (viaButton && first) {
      var target = first.querySelector(".chat-choices button:not([disabled])");
      if (target) { target.focus({preventScroll: true}); return; }
    }
    if (!viaButton) { input.focus({preventScroll: true}); }
  }

  function renderReplies(replies) {
    var first = null;
    var firstNew = null;
    replies.forEach(function (reply) {
      var li = renderBot(reply, true);
      if (!firstNew) { firstNew = li; }
      if (!first && reply.buttons && reply.buttons.length) { first = li; }
    });
    adaptComposer(replies.length ? replies[replies.length - 1] : lastReply);
    focusNext(first);
    reveal(firstNew);
  }

  function renderHistory(messages) {
    log.textContent = "";
    var live = messages.length;
    while (live > 0 && messages[live - 1].from === "bot") { live--; }
    var firstLive = null;
    messages.forEach(function (m, i) {
      if (m.from === "user") { renderUser(m.text); return; }
      var li = renderBot(m.reply, i >= live);
      if (i >= live && !firstLive) { firstLive = li; }
    });
    var last = null;
    for (var j = messages.length - 1; j >= 0; j--) {
      if (messages[j].from === "bot") { last = messages[j].reply; break; }
    }
    adaptComposer(last);
    reveal(firstLive);
  }

  /* ---- sending ---------------------------------------------------------------------- */

  function send(value, shown, fromButton) {
    if (waiting) { return; }
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      setStatus(t("chat.reconnecting"), true);
      return;
    }
    if (!value || !value.trim()) { setStatus(t("chat.error.empty"), true); return; }
    if (value.length > maxChars) { setStatus(t("chat.error.too_long"), true); return; }
    viaButton = !!fromButton;
    setStatus("");
    retire();
    renderUser(shown || value);
    pendingText = fromButton ? null : value;
    waiting = true;
    sendBtn.disabled = true;
    showTyping();
    reveal(null);
    ws.send(JSON.stringify({type: "say", text: value}));
  }

  function autosize() {
    input.style.height = "auto";
    var max = Math.round(window.innerHeight * 0.35);
    input.style.height = Math.min(input.scrollHeight + 2, max) + "px";
    var left = maxChars - input.value.length;
    counter.textContent = left < maxChars * 0.2 ? tn("chat.chars_left", left) : "";
  }

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = input.value;
    if (!value.trim() || waiting) { return; }
    input.value = "";
    autosize();
    send(value, null, false);
  });

  input.addEventListener("keydown", function (event) {
    var multiline = lastReply && lastReply.input === "textarea";
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing &&
        (!multiline || event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      composer.requestSubmit ? composer.requestSubmit() : sendBtn.click();
    }
  });
  input.addEventListener("input", autosize);

  function renderSwitch(languages) {
    /* One button for each other language, labelled in that language. */
    langBox.textContent = "";
    languages.forEach(function (other) {
      var b = el("button", "secondary chat-lang", other.label);
      b.type = "button";
      b.setAttribute("lang", other.lang);
      b.setAttribute("data-command", other.command);
      langBox.appendChild(b);
    });
  }

  langBox.addEventListener("click", function (event) {
    var b = event.target.closest ? event.target.closest("button[data-command]") : null;
    if (b) { send(b.getAttribute("data-command"), null, true); }
  });

  /* ---- the connection --------------------------------------------------------------- */

  function receive(event) {
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (data.lang && Object.prototype.hasOwnProperty.call(texts, data.lang)) { lang = data.lang; }
    if (Array.isArray(data.switch)) { renderSwitch(data.switch); }
    if (data.type === "history") {
      waiting = false;
      sendBtn.disabled = false;
      renderHistory(data.messages || []);
      return;
    }
    hideTyping();
    waiting = false;
    sendBtn.disabled = false;
    if (data.type === "bot") {
      pendingText = null;
      renderReplies(data.replies || []);
    } else if (data.type === "error") {
      var own = log.lastElementChild;
      if (own && own.classList.contains("user")) { log.removeChild(own); }
      if (pendingText !== null && !input.value) { input.value = pendingText; autosize(); }
      pendingText = null;
      setStatus(t("chat.error." + data.code), true);
      if (data.code === "no_session") {
        /* The cookie went missing: reload once (it is set again); if cookies are blocked,
           stay and point to the form instead of reloading for ever. */
        if (window.location.search.indexOf("reloaded=1") < 0) {
          window.setTimeout(function () { window.location.replace("/chat?reloaded=1"); }, 1000);
        } else {
          fallback.classList.add("prominent");
          composer.hidden = true;
        }
      }
      if (data.code === "session_limit") { composer.hidden = true; }
      // The question is still open: bring its buttons back.
      if (lastReply && data.code !== "session_limit") {
        retire();
        renderBot(lastReply, true);
      }
    }
  }

  function connect() {
    var url = (window.location.protocol === "https:" ? "wss://" : "ws://") +
      window.location.host + root.getAttribute("data-ws");
    setStatus(failures ? t("chat.reconnecting") : t("chat.connecting"));
    var socket = new WebSocket(url);
    ws = socket;
    socket.addEventListener("open", function () {
      failures = 0;
      setStatus("");
      composer.hidden = false;
      langBox.hidden = false;
      fallback.classList.remove("prominent");
    });
    socket.addEventListener("message", receive);
    socket.addEventListener("close", function (event) {
      if (ws !== socket) { return; }
      hideTyping();
      waiting = false;
      sendBtn.disabled = false;
      if (event.code === 1000 && statusEl.textContent) { return; }
      failures += 1;
      if (failures >= 3) {
        fallback.classList.add("prominent");
        setStatus(t("chat.offline"), true);
      } else {
        setStatus(t("chat.reconnecting"), true);
      }
      window.setTimeout(connect, Math.min(1000 * Math.pow(2, failures - 1), 15000));
    });
  }

  connect();
}());
