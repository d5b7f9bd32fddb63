// Calls to this server with the Bearer key. The key lives in sessionStorage (this tab
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
export async function call(path, { method = "GET", body, type, as = "json", signal } = {}) {
  const headers = { Authorization: `Bearer ${getKey()}` };
  if (body !== undefined) {
    headers["Content-Type"] = type || "application/json";
    if (!type) body = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body, signal, cache: "no-store" });
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      problem = { title: response.statusText };
    }
    throw new ApiError(response.status, problem);
  }
  return as === "blob" ? response.blob() : as === "text" ? response.text() : response.json();
}
