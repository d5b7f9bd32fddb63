// Calls to this server with the Bearer key, and its event streams. The key lives in sessionStorage (this tab
// only, gone when it closes), is sent only in the Authorization header and only to this
// origin (relative URLs, and the page's Content-Security-Policy allows no other).

const STORAGE = "geoalert.key";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function getKey() {
  return sessionStorage.getItem(STORAGE);
}

export function setKey(key) {
  sessionStorage.setItem(STORAGE, key.trim());
}

export function forgetKey() {
  sessionStorage.removeItem(STORAGE);
}

/**
 * Call `path` with the key; JSON in (objects) and out, or raw text and blobs.
 * Throws ApiError with the problem details (RFC 9457) on a 4xx or 5xx answer.
 */
export async function call(path, { method = "GET", body, type, as = "json", signal, headers = {} } = {}) {
  const sent = { ...headers, Authorization: `Bearer ${getKey()}` };
  if (body !== undefined) {
    sent["Content-Type"] = type || "application/json";
    if (!type) body = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers: sent, body, signal, cache: "no-store" });
  await check(response);
  return as === "blob" ? response.blob() : as === "text" ? response.text() : response.json();
}

/**
 * Read the server-sent events of `path` with the key (EventSource cannot send it), calling
 * `onEvent(name, data)` with each event's parsed JSON data; resolves when the stream ends.
 * Throws ApiError as `call` does; abort with `signal`.
 */
export async function events(path, onEvent, { signal } = {}) {
  const response = await fetch(path, {
    headers: { Authorization: `Bearer ${getKey()}`, Accept: "text/event-stream" },
    signal,
    cache: "no-store",
  });
  await check(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

async function check(response) {
  if (response.ok) return;
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    problem = { title: response.statusText };
  }
  throw new ApiError(response.status, problem);
}
