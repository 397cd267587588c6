// Opening a cited document: the file route needs the reader's key, which a plain link cannot send, so the file
// is fetched and handed to the browser as a blob: URL (a PDF opens in a new tab at the cited page; other
// formats download under their own name).
import { ApiError } from "./api.js";
import { baseName, el, format } from "./render.js";

function fileName(response, item) {
  const header = response.headers.get("Content-Disposition") || "";
  const encoded = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (encoded) {
    try {
      return decodeURIComponent(encoded[1]);
    } catch {
      // fall through to the plain name
    }
  }
  const plain = /filename="?([^";]+)"?/i.exec(header);
  return plain ? plain[1] : baseName(item.source) || "document";
}

export function sourceOpener(api, t) {
  return async function open(item, card) {
    card.querySelector(".source-error")?.remove();
    const pdf = item.doc_type === "pdf";
    // Opened now, while the click still counts as the reader's: a window opened after the fetch is a popup.
    const tab = pdf ? window.open("", "_blank") : null;
    try {
      const response = await api.request(`/v1/documents/${encodeURIComponent(item.document_id)}/file`);
      const url = URL.createObjectURL(await response.blob());
      if (tab) {
        tab.location.href = item.page ? `${url}#page=${item.page}` : url;
      } else {
        const link = el("a");
        link.href = url;
        link.download = fileName(response, item);
        document.body.append(link);
        link.click();
        link.remove();
      }
      setTimeout(() => URL.revokeObjectURL(url), 120_000);
    } catch (err) {
      tab?.close();
      const message = err instanceof ApiError ? err.message : String(err);
      card.append(el("p", "source-error error", format(t.source_failed, { message })));
    }
  };
}
