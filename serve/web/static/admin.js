// Administration (admin keys): upload files or a folder with who may read them, follow the indexing job to its
// end with each failed file and why, and the document list with deletion.
import { ApiError } from "./api.js";
import { baseName, el, format } from "./render.js";

const FINAL = new Set(["succeeded", "failed", "partially_failed", "cancelled"]);
const POLL_MS = 700;
const PAGE = 500;

const messageOf = (err) => (err instanceof ApiError ? err.message : String(err));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function setupAdmin({ api, t }) {
  const form = document.getElementById("upload-form");
  const uploadError = document.getElementById("upload-error");
  const job = document.getElementById("job");
  const progress = document.getElementById("job-progress");
  const status = document.getElementById("job-status");
  const failures = document.getElementById("job-failures");
  const table = document.querySelector("#documents tbody");
  const filter = document.getElementById("document-filter");
  const summary = document.getElementById("documents-summary");
  const dialog = document.getElementById("confirm-delete");
  let documents = [];

  function showJob(state) {
    const p = state.progress || {};
    const total = p.documents_total || 0;
    const done = p.documents_done || 0;
    progress.max = Math.max(total, 1);
    progress.value = done;
    status.dataset.state = state.state;
    status.textContent = `${t[`job_${state.state}`] || state.state} · ${format(t.job_progress, { done, total })}`;
    failures.replaceChildren(
      ...[...(state.failures || []), ...(state.dead_letter || [])].map((failure) =>
        el("li", "failure", format(t.job_failed_file, { file: baseName(failure.path), reason: failure.reason || "" })),
      ),
    );
  }

  async function follow(jobId) {
    for (;;) {
      const state = await api.json(`/v1/jobs/${encodeURIComponent(jobId)}`);
      showJob(state);
      if (FINAL.has(state.state)) return state;
      await sleep(POLL_MS);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    uploadError.hidden = true;
    const chosen = [...document.getElementById("upload-files").files, ...document.getElementById("upload-dir").files];
    if (!chosen.length) {
      uploadError.textContent = t.upload_nothing;
      uploadError.hidden = false;
      return;
    }
    const data = new FormData();
    for (const file of chosen) data.append("files", file, file.name);
    data.append("folder", document.getElementById("upload-folder").value.trim());
    data.append("acl", document.getElementById("upload-acl").value.trim());
    data.append("public", document.getElementById("upload-public").checked ? "true" : "false");
    data.append("tags", document.getElementById("upload-tags").value.trim());
    const submit = document.getElementById("upload-submit");
    submit.disabled = true;
    try {
      const accepted = await api.json("/v1/documents", { method: "POST", form: data });
      job.hidden = false;
      showJob(accepted.job);
      await follow(accepted.job.id);
      form.reset();
      await load();
    } catch (err) {
      uploadError.textContent = format(t.error, { message: messageOf(err) });
      uploadError.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });

  function confirmDelete(name) {
    document.getElementById("confirm-text").textContent = format(t.confirm_delete, { name });
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    });
  }
  document.getElementById("confirm-yes").addEventListener("click", () => dialog.close("yes"));
  document.getElementById("confirm-no").addEventListener("click", () => dialog.close("no"));

  function row(info) {
    const tr = el("tr", "document");
    tr.dataset.id = info.document_id;
    const source = el("td", "doc-source");
    source.append(el("strong", "", info.title || baseName(info.source)), el("span", "doc-path", info.source));
    const access = [...(info.public ? [t.public] : []), ...(info.acl || [])].join(", ");
    const remove = el("button", "document-delete danger", t.delete);
    remove.type = "button";
    remove.setAttribute("aria-label", `${t.delete} ${baseName(info.source)}`);
    remove.addEventListener("click", async () => {
      if (!(await confirmDelete(baseName(info.source)))) return;
      try {
        await api.json(`/v1/documents/${encodeURIComponent(info.document_id)}`, { method: "DELETE" });
        summary.textContent = format(t.deleted, { name: baseName(info.source) });
        await load(false);
      } catch (err) {
        summary.textContent = format(t.error, { message: messageOf(err) });
      }
    });
    const actions = el("td");
    actions.append(remove);
    tr.append(source, el("td", "doc-status", info.status), el("td", "doc-chunks", String(info.chunks)), el("td", "doc-access", access), actions);
    return tr;
  }

  function show() {
    const wanted = filter.value.trim().toLowerCase();
    const shown = documents.filter((d) => !wanted || `${d.title} ${d.source}`.toLowerCase().includes(wanted));
    table.replaceChildren(...shown.map(row));
  }

  async function load(announce = true) {
    try {
      const page = await api.json(`/v1/documents?limit=${PAGE}`);
      documents = page.documents;
      if (announce) summary.textContent = format(t.documents_count, { count: page.total });
      show();
    } catch (err) {
      summary.textContent = format(t.error, { message: messageOf(err) });
    }
  }

  filter.addEventListener("input", show);
  document.getElementById("documents-refresh").addEventListener("click", () => load());
  return { load };
}
