// The CodeMirror 6 pieces the platform's editor (static/js/editor.js) uses, as one global.
export { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter } from "@codemirror/view";
export { EditorState, Compartment, EditorSelection } from "@codemirror/state";
export { basicSetup } from "codemirror";
export { indentWithTab } from "@codemirror/commands";
export { json } from "@codemirror/lang-json";
export { StreamLanguage, HighlightStyle, syntaxHighlighting, defaultHighlightStyle } from "@codemirror/language";
export { tags } from "@lezer/highlight";
