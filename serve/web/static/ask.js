// Ask: a conversation. Each question streams its answer in (rendered once per animation frame), then shows its
// state (answered, quoted without a model, not found, handed to a larger model), its sources and feedback.
import { ApiError } from "./api.js";
import { baseName, el, format, linkCitations, queryTerms, renderMarkdown, sourceCard } from "./render.js";

const MAX_TURNS = 40; // the API's limit on earlier turns

const STATES = { not_found: "not-found", extractive: "extractive" };

function turnView(n, question, t) {
  const root = el("li", "turn");
  root.append(el("p", "question-text", question));
  const answer = el("div", "answer");
  answer.dataset.state = "streaming";
  answer.setAttribute("aria-busy", "true");
  const text = el("div", "answer-text");
  const waiting = el("p", "waiting", t.thinking);
  answer.append(waiting, text);
  root.append(answer);

  // The passages the model reads (the `sources` event, sent before its first token): their titles, shown while
  // the answer is written and replaced by the sources it cites once it is done.
  const reading = el("div", "reading");
  reading.hidden = true;
  answer.append(reading);

  let pending = null;
  let received = [];
  function draw() {
    if (pending === null) return; // drawn already (the answer finished before this frame)
    text.replaceChildren(renderMarkdown(pending));
    const shown = performance.now();
    for (const start of received) performance.measure("delta-to-screen", { start, end: shown });
    received = [];
    pending = null;
  }
  return {
    root,
    read(sources) {
      if (!sources.length) return;
      waiting.remove();
      const titles = el("ol", "reading-list");
      for (const source of sources) titles.append(el("li", "reading-item", source.title || baseName(source.source)));
      reading.replaceChildren(el("p", "reading-title", format(t.reading, { count: sources.length })), titles);
      reading.hidden = false;
    },
    // The answer so far; drawn at the next animation frame (several deltas in one frame draw once).
    write(sofar, at) {
      waiting.remove();
      received.push(at);
      if (pending === null) requestAnimationFrame(draw);
      pending = sofar;
    },
    finish(done, citations, deps) {
      waiting.remove();
      reading.remove();
      if (pending !== null) draw();
      answer.dataset.state = STATES[done.mode] || "answered";
      answer.removeAttribute("aria-busy");
      const numbers = new Set(citations.map((c) => c.number));
      const body = renderMarkdown(done.text);
      linkCitations(body, numbers, (k) => `#src-${n}-${k}`);
      text.replaceChildren(body);
      const note = done.mode === "not_found" ? t.not_found : done.mode === "extractive" ? t.extractive : "";
      if (note) answer.append(el("p", "answer-note", note));
      const route = done.route;
      if (route && route.escalated) {
        const reasons = (route.reasons || []).join(", ");
        answer.append(el("p", "route-line", format(t.route, { model: route.model || route.tier, tier: route.tier, reasons })));
      }
      if (citations.length) {
        const sources = el("section", "sources");
        sources.append(el("h3", "sources-title", t.sources));
        const terms = queryTerms(`${deps.question} ${done.question || ""}`);
        for (const citation of citations) {
          sources.append(
            sourceCard(citation, {
              id: `src-${n}-${citation.number}`,
              number: citation.number,
              text: citation.snippet,
              terms,
              t,
              lang: deps.lang,
              onOpen: deps.openSource,
            }),
          );
        }
        answer.append(sources);
      }
      if (done.request_id) answer.append(feedbackView(done.request_id, deps.api, t));
    },
    fail(message) {
      waiting.remove();
      reading.remove();
      answer.dataset.state = "error";
      answer.removeAttribute("aria-busy");
      answer.append(el("p", "error-text error", format(t.error, { message })));
    },
  };
}

function feedbackView(answerId, api, t) {
  const box = el("div", "feedback");
  const up = el("button", "vote-up secondary", `👍 ${t.helpful}`);
  const down = el("button", "vote-down secondary", `👎 ${t.not_helpful}`);
  const comment = el("textarea", "feedback-comment");
  comment.rows = 2;
  comment.maxLength = 2000;
  comment.placeholder = t.comment_placeholder;
  comment.setAttribute("aria-label", t.comment_placeholder);
  const send = el("button", "feedback-send secondary", t.send_comment);
  const status = el("p", "feedback-status");
  status.setAttribute("role", "status");
  const more = el("div", "feedback-more");
  more.hidden = true;
  more.append(comment, send);
  let vote = null;
  async function post() {
    try {
      await api.json("/v1/feedback", { method: "POST", json: { answer_id: answerId, vote, comment: comment.value.trim() || null } });
      status.textContent = t.feedback_stored;
    } catch (err) {
      status.textContent = format(t.feedback_failed, { message: err instanceof ApiError ? err.message : String(err) });
    }
  }
  for (const [button, value] of [
    [up, "up"],
    [down, "down"],
  ]) {
    button.type = "button";
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", () => {
      vote = value;
      up.setAttribute("aria-pressed", String(value === "up"));
      down.setAttribute("aria-pressed", String(value === "down"));
      more.hidden = false;
      post();
    });
  }
  send.type = "button";
  send.addEventListener("click", () => vote && post());
  box.append(up, down, more, status);
  return box;
}

export function setupAsk({ api, t, lang, openSource }) {
  const form = document.getElementById("ask-form");
  const input = document.getElementById("question");
  const list = document.getElementById("conversation");
  const submit = document.getElementById("ask-submit");
  let history = [];
  let turns = 0;
  let controller = null;

  async function ask(question) {
    const n = ++turns;
    const view = turnView(n, question, t);
    list.append(view.root);
    view.root.scrollIntoView({ block: "end" });
    controller = new AbortController();
    const mine = controller;
    submit.disabled = true;
    let citations = [];
    let done = null;
    let sofar = "";
    try {
      const body = { question, stream: true, conversation: history.slice(-MAX_TURNS) };
      for await (const event of api.events("/v1/ask", body, mine.signal)) {
        if (event.name === "delta") {
          sofar += event.data.text;
          view.write(sofar, event.received);
        } else if (event.name === "sources") {
          view.read(event.data.sources || []);
        } else if (event.name === "citations") {
          citations = event.data.citations || [];
        } else if (event.name === "done") {
          done = event.data;
        } else if (event.name === "error") {
          const error = event.data.error || {};
          throw new ApiError(0, error.message || "error", error.code || "");
        }
      }
      if (!done) throw new ApiError(0, "the answer ended before it was complete", "incomplete");
      view.finish(done, citations, { api, lang, openSource, question });
      history.push({ role: "user", content: question }, { role: "assistant", content: done.text });
    } catch (err) {
      if (err.name === "AbortError") return;
      view.fail(err instanceof ApiError ? err.message : String(err));
    } finally {
      if (controller === mine) {
        controller = null;
        submit.disabled = false;
      }
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || controller) return;
    input.value = "";
    ask(question);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  document.getElementById("new-conversation").addEventListener("click", () => {
    controller?.abort();
    controller = null;
    submit.disabled = false;
    history = [];
    list.replaceChildren();
    input.focus();
  });
}
