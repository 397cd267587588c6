// Search: the passages themselves, best first, with the filters the API takes.
import { ApiError } from "./api.js";
import { el, format, queryTerms, sourceCard } from "./render.js";

const value = (id) => document.getElementById(id).value.trim();
const PASSAGE_CHARS = 600;

function filters() {
  const chosen = {};
  if (value("filter-folder")) chosen.source_prefix = value("filter-folder");
  if (value("filter-type")) chosen.doc_types = [value("filter-type")];
  if (value("filter-language")) chosen.languages = [value("filter-language")];
  const tags = value("filter-tags").split(",").map((tag) => tag.trim()).filter(Boolean);
  if (tags.length) chosen.tags = tags;
  if (value("filter-from")) chosen.modified_after = `${value("filter-from")}T00:00:00Z`;
  if (value("filter-to")) chosen.modified_before = `${value("filter-to")}T23:59:59Z`;
  return chosen;
}

function clip(text) {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= PASSAGE_CHARS ? flat : `${flat.slice(0, PASSAGE_CHARS).replace(/\s\S*$/, "")} …`;
}

export function setupSearch({ api, t, lang, openSource }) {
  const form = document.getElementById("search-form");
  const results = document.getElementById("search-results");
  const empty = document.getElementById("search-empty");
  const summary = document.getElementById("search-summary");
  const folders = document.getElementById("folders");
  const known = new Set();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = value("search-query");
    if (!query) return;
    const submit = document.getElementById("search-submit");
    submit.disabled = true;
    results.setAttribute("aria-busy", "true");
    try {
      const found = await api.json("/v1/search", { method: "POST", json: { query, k: 20, filters: filters() } });
      const terms = queryTerms(query);
      results.replaceChildren(
        ...found.passages.map((passage) => {
          const item = el("li", "result");
          item.append(sourceCard(passage, { text: clip(passage.text), terms, t, lang, onOpen: openSource }));
          return item;
        }),
      );
      empty.hidden = found.passages.length > 0;
      summary.textContent = found.passages.length ? format(t.results, { count: found.passages.length }) : "";
      summary.classList.remove("error");
      for (const passage of found.passages) {
        const folder = passage.source.replace(/[\\/][^\\/]*$/, "");
        if (folder && !known.has(folder)) {
          known.add(folder);
          const option = el("option");
          option.value = folder;
          folders.append(option);
        }
      }
    } catch (err) {
      results.replaceChildren();
      empty.hidden = true;
      summary.textContent = format(t.error, { message: err instanceof ApiError ? err.message : String(err) });
      summary.classList.add("error");
    } finally {
      submit.disabled = false;
      results.removeAttribute("aria-busy");
    }
  });
}
