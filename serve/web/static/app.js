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

function setupTabs(admin) {
  const tabs = [...document.querySelectorAll('[role="tab"]')].filter((tab) => tab.id !== "tab-admin" || admin);
  document.getElementById("tab-admin").hidden = !admin;
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
  if (me.admin) {
    const admin = setupAdmin({ api, t });
    document.getElementById("tab-admin").addEventListener("tab-shown", () => admin.load());
  }
  setupTabs(Boolean(me.admin));
  document.getElementById("question").focus();
}

main();
