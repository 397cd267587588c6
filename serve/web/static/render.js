// What reaches the DOM. Answers are Markdown: marked renders them with raw HTML escaped (an answer's HTML is
// shown as text, never as markup), then DOMPurify keeps only plain formatting and http(s)/mailto links.
// Passages, titles and file names only ever go in as text (textContent).
import { Marked } from "./vendor/marked.esm.js";

const escapes = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => escapes[c]);

const markdown = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    image({ text }) {
      return escapeHtml(text); // no requests to wherever an answer points
    },
  },
});

const ALLOWED_TAGS = [
  "p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li",
  "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "hr",
];

export function renderMarkdown(text) {
  const html = markdown.parse(text, { async: false });
  const fragment = window.DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: ["href", "title"],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
    RETURN_DOM_FRAGMENT: true,
  });
  for (const link of fragment.querySelectorAll("a[href]")) {
    link.target = "_blank";
    link.rel = "noopener noreferrer";
  }
  return fragment;
}

function textNodes(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) => (node.parentElement?.closest("code, pre, a") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  return nodes;
}

// Turn each `[n]` naming a known source into a link to its card (`href(n)`); other brackets stay text.
export function linkCitations(root, numbers, href) {
  for (const node of textNodes(root)) {
    const parts = node.textContent.split(/(\[\d+\])/);
    if (parts.length === 1) continue;
    const replacement = parts.map((part) => {
      const match = /^\[(\d+)\]$/.exec(part);
      if (!match || !numbers.has(Number(match[1]))) return document.createTextNode(part);
      const link = document.createElement("a");
      link.className = "cite";
      link.href = href(Number(match[1]));
      link.textContent = part;
      return link;
    });
    node.replaceWith(...replacement);
  }
}

const STOP = new Set(
  ("the and what how for are is does did with which who whom when where why can could from that this was were " +
    "into about your our you many much any there their they them have has had will would should shall may might " +
    "not but its it's his her how's what's").split(" "),
);

// The words of a question worth marking in a passage: longer words that are not stop words, and for Chinese
// (written without spaces) each pair of adjacent characters.
export function queryTerms(question) {
  const terms = new Set();
  const lower = question.toLowerCase();
  for (const run of lower.match(/\p{Script=Han}+/gu) || []) {
    const chars = [...run];
    for (let i = 0; i + 1 < chars.length; i++) terms.add(chars[i] + chars[i + 1]);
  }
  for (const word of lower.replace(/\p{Script=Han}+/gu, " ").match(/[\p{L}\p{N}]+/gu) || []) {
    if ((word.length >= 3 || /\d/.test(word)) && !STOP.has(word)) terms.add(word);
  }
  return [...terms].sort((a, b) => b.length - a.length);
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// `text` as text nodes, with each occurrence of a term inside <mark>.
export function highlighted(text, terms) {
  const fragment = document.createDocumentFragment();
  if (!terms.length) {
    fragment.append(text);
    return fragment;
  }
  const pattern = new RegExp(
    terms.map((term) => (/\p{Script=Han}/u.test(term) ? escapeRegExp(term) : `(?<![\\p{L}\\p{N}])${escapeRegExp(term)}`)).join("|"),
    "giu",
  );
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    fragment.append(text.slice(last, match.index));
    const mark = document.createElement("mark");
    mark.textContent = match[0];
    fragment.append(mark);
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

export const baseName = (path) => String(path || "").split(/[\\/]/).pop();

// A source: a citation of an answer, or a passage found by a search. `text` is the passage shown.
export function sourceCard(item, { id, number, text, terms, t, lang, onOpen }) {
  const card = el("article", "source-card");
  if (id) card.id = id;
  const title = el("h3", "source-title", `${number ? `[${number}] ` : ""}${item.title || baseName(item.source)}`);
  card.append(title);
  const headings = (item.headings || []).filter((h, i) => !(i === 0 && h === item.title));
  const meta = el("p", "source-meta");
  if (headings.length) meta.append(el("span", "source-headings", headings.join(" › ")));
  if (item.page) meta.append(el("span", "source-page", format(t.page, { page: item.page })));
  if (item.doc_type) meta.append(el("span", "source-type", item.doc_type.toUpperCase()));
  if (item.modified) {
    const date = new Date(item.modified);
    if (!Number.isNaN(date.valueOf())) {
      const time = el("time", "source-date", date.toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB"));
      time.dateTime = item.modified;
      meta.append(time);
    }
  }
  card.append(meta);
  const snippet = el("p", "source-snippet");
  snippet.append(highlighted(text, terms));
  card.append(snippet);
  const open = el("button", "source-open secondary", item.doc_type === "pdf" ? t.open_source : t.download_source);
  open.type = "button";
  open.title = baseName(item.source);
  open.addEventListener("click", () => onOpen(item, card));
  card.append(open);
  return card;
}
