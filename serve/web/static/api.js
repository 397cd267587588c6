// The API, as the page calls it: JSON requests and the Server-Sent Events of a streamed answer, with the
// reader's credentials on every call. Every failure is an ApiError carrying the server's own error message.
import { createParser } from "./vendor/eventsource-parser.js";

export class ApiError extends Error {
  constructor(status, message, code = "") {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  let code = "";
  try {
    const body = await response.json();
    if (body && body.error) {
      message = body.error.message || message;
      code = body.error.code || "";
    }
  } catch {
    // not the JSON error shape (a proxy's page): keep the status line
  }
  return new ApiError(response.status, message, code);
}

// credentials: { headers() -> object } (see signin.js).
export function createApi(credentials) {
  async function request(path, { method = "GET", json, form, signal } = {}) {
    // The audit trail records the page's questions and searches as channel "web" (serve/api/auditing.py).
    const headers = { ...credentials.headers(), "X-Docent-Channel": "web" };
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body, signal });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, err.message || String(err), "network");
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async function json(path, options) {
    return (await request(path, options)).json();
  }

  // The events of a streamed POST, each {name, data, received}: `received` is when its bytes were read
  // (performance.now()), for the page's delta-to-screen measure.
  async function* events(path, body, signal) {
    const response = await request(path, { method: "POST", json: body, signal });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const queue = [];
    let failure = null;
    const parser = createParser({
      onEvent(event) {
        try {
          queue.push({ name: event.event || "message", data: JSON.parse(event.data) });
        } catch (err) {
          failure = new ApiError(0, `unreadable event from the server: ${err.message}`, "bad_event");
        }
      },
    });
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const received = performance.now();
        parser.feed(value);
        if (failure) throw failure;
        while (queue.length) yield { ...queue.shift(), received };
      }
    } finally {
      reader.releaseLock();
    }
  }

  return { request, json, events };
}
