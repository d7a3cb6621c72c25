// Code editor: enhances each <textarea data-editor> with CodeMirror 6 (vendored in
// static/vendor/codemirror) — line numbers, HCL/JSON highlighting, and a "Go to line N" button
// on every error that cites a line. The textarea stays the form field: hidden, and kept equal
// to the editor's text. Without JavaScript (or without the bundle) it is a plain textarea.
(function () {
  "use strict";
  const CM = window.CodeMirror;
  if (!CM) return;

  const BLOCKS = /^(resource|data|module|variable|output|locals|provider|terraform|moved|import|removed|check|dynamic|lifecycle|provisioner|connection)\b/;

  // A small HCL mode (StreamLanguage): comments, strings and heredocs, numbers, atoms, block keywords.
  const hcl = CM.StreamLanguage.define({
    name: "hcl",
    startState: function () { return { comment: false, heredoc: null }; },
    token: function (stream, state) {
      if (state.heredoc) {
        if (stream.sol() && stream.string.trim() === state.heredoc) { stream.skipToEnd(); state.heredoc = null; return "string"; }
        stream.skipToEnd();
        return "string";
      }
      if (state.comment) {
        if (stream.skipTo("*/")) { stream.next(); stream.next(); state.comment = false; } else stream.skipToEnd();
        return "comment";
      }
      if (stream.eatSpace()) return null;
      if (stream.match("#") || stream.match("//")) { stream.skipToEnd(); return "comment"; }
      if (stream.match("/*")) { state.comment = true; return "comment"; }
      const heredoc = stream.match(/^<<-?([A-Za-z_][\w]*)/);
      if (heredoc) { state.heredoc = heredoc[1]; return "string"; }
      if (stream.peek() === '"') {
        stream.next();
        let escaped = false, ch;
        while ((ch = stream.next()) != null) {
          if (ch === '"' && !escaped) break;
          escaped = !escaped && ch === "\\";
        }
        return "string";
      }
      if (stream.match(/^-?\d+(\.\d+)?([eE][+-]?\d+)?/)) return "number";
      if (stream.match(/^(true|false|null)\b/)) return "atom";
      if (stream.sol() || stream.string.slice(0, stream.pos).trim() === "") {
        if (stream.match(BLOCKS)) return "keyword";
      }
      if (stream.match(/^(for|in|if|else|endif|endfor)\b/)) return "keyword";
      if (stream.match(/^[A-Za-z_][\w-]*(?=\s*=(?!=))/)) return "propertyName";
      if (stream.match(/^[A-Za-z_][\w-]*/)) return "variableName";
      if (stream.match(/^[{}\[\]()]/)) return "bracket";
      if (stream.match(/^(==|!=|<=|>=|&&|\|\||=>|[=<>!?:+\-*\/%])/)) return "operator";
      stream.next();
      return null;
    },
    languageData: { commentTokens: { line: "#", block: { open: "/*", close: "*/" } } },
  });

  function languageFor(textarea, text) {
    const format = textarea.form && textarea.form.querySelector("select[name=code_format]");
    const chosen = format ? format.value : "auto";
    if (chosen === "json") return "json";
    if (chosen === "hcl") return "hcl";
    return /^\s*[{[]/.test(text) ? "json" : "hcl";
  }

  function extensionFor(kind) {
    return kind === "json" ? CM.json() : hcl;
  }

  // Put the cursor on ``line`` (1-based; clamped to the text) and bring it into view.
  function jumpTo(view, line, column, focus) {
    const doc = view.state.doc;
    const target = doc.line(Math.min(Math.max(line, 1), doc.lines));
    const pos = target.from + Math.min(Math.max((column || 1) - 1, 0), target.length);
    view.dispatch({ selection: { anchor: pos }, effects: CM.EditorView.scrollIntoView(pos, { y: "center" }) });
    if (focus) view.focus();
  }

  // Errors next to the field (or above its form) that cite "line N[, column C]".
  function errorLines(textarea) {
    const scope = textarea.closest("form") || document;
    const found = [];
    scope.querySelectorAll(".errorlist li, .flash-error").forEach(function (item) {
      const match = /\bline (\d+)(?:,? column (\d+))?/i.exec(item.textContent);
      if (match) found.push({ item: item, line: parseInt(match[1], 10), column: match[2] ? parseInt(match[2], 10) : 1 });
    });
    return found;
  }

  function enhance(textarea) {
    if (textarea.editorView) return;
    const language = new CM.Compartment();
    let kind = languageFor(textarea, textarea.value);
    const label = textarea.labels && textarea.labels[0] ? textarea.labels[0].textContent.trim() : "Code";
    const view = new CM.EditorView({
      parent: textarea.parentNode,
      state: CM.EditorState.create({
        doc: textarea.value,
        extensions: [
          CM.basicSetup,
          CM.keymap.of([CM.indentWithTab]),
          language.of(extensionFor(kind)),
          CM.EditorView.contentAttributes.of({ "aria-label": label }),
          // Through the facet: the editor rewrites its own class attribute on every update.
          CM.EditorView.editorAttributes.of({ class: "code-editor", "data-editor-for": textarea.name }),
          CM.EditorView.updateListener.of(function (update) {
            if (!update.docChanged) return;
            textarea.value = update.state.doc.toString();
            const next = languageFor(textarea, textarea.value);
            if (next !== kind) { kind = next; view.dispatch({ effects: language.reconfigure(extensionFor(kind)) }); }
          }),
        ],
      }),
    });
    textarea.parentNode.insertBefore(view.dom, textarea.nextSibling);
    textarea.style.display = "none";
    textarea.editorView = view;
    const format = textarea.form && textarea.form.querySelector("select[name=code_format]");
    if (format) format.addEventListener("change", function () {
      kind = languageFor(textarea, textarea.value);
      view.dispatch({ effects: language.reconfigure(extensionFor(kind)) });
    });
    if (textarea.form) textarea.form.addEventListener("submit", function () { textarea.value = view.state.doc.toString(); });
    textarea.addEventListener("focus", function () { view.focus(); });

    const errors = errorLines(textarea);
    errors.forEach(function (error) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-small jump-to-line";
      button.dataset.line = error.line;
      button.textContent = "Go to line " + error.line;
      button.addEventListener("click", function () { jumpTo(view, error.line, error.column, true); });
      error.item.append(" ", button);
    });
    if (errors.length) jumpTo(view, errors[0].line, errors[0].column, false);
  }

  function enhanceAll(root) {
    (root || document).querySelectorAll("textarea[data-editor]").forEach(enhance);
  }
  document.addEventListener("DOMContentLoaded", function () { enhanceAll(document); });
  document.addEventListener("htmx:load", function (event) { enhanceAll(event.detail.elt); });
})();
