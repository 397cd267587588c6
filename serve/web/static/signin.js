// How the page learns who the reader is. Today: an API key, kept in sessionStorage (this browser session only)
// and sent as the bearer token; or nothing, when the server lets anonymous readers see public documents.
// This module is the one place that knows; a single sign-on step replaces it with the same result:
// { api, me, signedIn, signOut }.
import { ApiError, createApi } from "./api.js";

const KEY = "docent.key";
const WANTS_KEY = "docent.wants-key"; // an anonymous reader asked to sign in

function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

function submitted(form, input) {
  return new Promise((resolve) => {
    form.addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        resolve(input.value.trim());
      },
      { once: true },
    );
  });
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WANTS_KEY);
  location.reload();
}

export function askForKey() {
  sessionStorage.setItem(WANTS_KEY, "1");
  location.reload();
}

export async function signIn({ t, anonymous }) {
  const form = document.getElementById("signin");
  const input = document.getElementById("api-key");
  const error = document.getElementById("signin-error");
  let key = sessionStorage.getItem(KEY) || "";
  const wantsKey = sessionStorage.getItem(WANTS_KEY) === "1";
  for (;;) {
    if (key || (anonymous && !wantsKey)) {
      const held = key;
      const api = createApi({ headers: () => (held ? { Authorization: `Bearer ${held}` } : {}) });
      try {
        const me = await api.json("/v1/me");
        if (held) sessionStorage.setItem(KEY, held);
        form.hidden = true;
        return { api, me, signedIn: Boolean(held), signOut };
      } catch (err) {
        sessionStorage.removeItem(KEY);
        const message = err instanceof ApiError ? err.message : String(err);
        error.textContent = format(t.signin_failed, { message });
        error.hidden = false;
        key = "";
      }
    }
    form.hidden = false;
    input.value = "";
    input.focus();
    key = await submitted(form, input);
    error.hidden = true;
  }
}
