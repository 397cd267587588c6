// How the page learns who the reader is: a single sign-on session (an HttpOnly cookie the server set after the
// identity provider's sign-in, /auth/login), or an API key, kept in sessionStorage (this browser session only)
// and sent as the bearer token; or nothing, when the server lets anonymous readers see public documents.
// This module is the one place that knows; it returns { api, me, signedIn, signOut }.
import { ApiError, createApi } from "./api.js";

const KEY = "docent.key";
const WANTS_KEY = "docent.wants-key"; // an anonymous reader asked to sign in
// A session's cookie goes with every request to the server, also those another site causes: requests that change
// something carry this header too, with the token only this page can read (GET /v1/me).
const CSRF_HEADER = "X-Docent-CSRF";

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

function signOutOfProvider() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WANTS_KEY);
  location.assign("/auth/logout");
}

// The reader of this browser's single sign-on session, when the server says it has one (data-session).
async function providerSession() {
  if (document.body.dataset.session !== "true") return null;
  try {
    const me = await createApi({ headers: () => ({}) }).json("/v1/me");
    if (!me.csrf) return null; // not a session after all (an anonymous reader)
    const api = createApi({ headers: () => ({ [CSRF_HEADER]: me.csrf }) });
    return { api, me, signedIn: true, signOut: signOutOfProvider };
  } catch {
    return null;
  }
}

export async function signIn({ t, anonymous }) {
  const form = document.getElementById("signin");
  const session = await providerSession();
  if (session) {
    form.hidden = true;
    return session;
  }
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
