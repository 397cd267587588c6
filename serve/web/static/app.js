// The page's composition: who the reader is (signin.js), then the tabs they may use.
import { setupAdmin } from "./admin.js";
import { setupAsk } from "./ask.js";
import { setupSearch } from "./search.js";
import { askForKey, signIn } from "./signin.js";
import { format } from "./render.js";
import { sourceOpener } from "./sources.js";

const t = JSON.parse(document.getElementById("messages").textContent);
const lang = document.documentElement.lang;

document.getElementById("lang").addEventListener("change", (event) => {
  const url = new URL(location.href);
  url.searchParams.set("lang", event.target.value);
  location.assign(url);
});

// What a key's role may open: read keys ask and search, ingest keys manage documents, admin keys do both.
function allowedTabs(role) {
  const reads = role === "read" || role === "admin";
  return { "tab-ask": reads, "tab-search": reads, "tab-admin": role === "ingest" || role === "admin" };
}

function setupTabs(allowed) {
  const tabs = [...document.querySelectorAll('[role="tab"]')].filter((tab) => allowed[tab.id]);
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.hidden = !allowed[tab.id];
    if (!allowed[tab.id]) document.getElementById(tab.getAttribute("aria-controls")).hidden = true;
  }
  const select = (chosen, focus = false) => {
    for (const tab of tabs) {
      const on = tab === chosen;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) chosen.focus();
    chosen.dispatchEvent(new CustomEvent("tab-shown"));
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) select(tabs[(i + step + tabs.length) % tabs.length], true);
    });
  });
  document.getElementById("tabs").hidden = false;
  select(tabs[0]);
}

async function main() {
  const anonymous = document.body.dataset.anonymous === "true";
  const session = await signIn({ t, anonymous });
  const { api, me } = session;
  const who = document.getElementById("who");
  const signout = document.getElementById("signout");
  if (session.signedIn) {
    who.textContent = format(t.signed_in_as, { who: me.user || (me.groups || []).join(", ") });
    signout.addEventListener("click", session.signOut);
  } else {
    who.textContent = t.anonymous;
    signout.textContent = t.signin;
    signout.addEventListener("click", askForKey);
  }
  signout.hidden = false;
  const openSource = sourceOpener(api, t);
  setupAsk({ api, t, lang, openSource });
  setupSearch({ api, t, lang, openSource });
  const allowed = allowedTabs(me.role || (me.admin ? "admin" : "read"));
  if (allowed["tab-admin"]) {
    const admin = setupAdmin({ api, t });
    document.getElementById("tab-admin").addEventListener("tab-shown", () => admin.load());
  }
  setupTabs(allowed);
  if (allowed["tab-ask"]) document.getElementById("question").focus();
}

main();
