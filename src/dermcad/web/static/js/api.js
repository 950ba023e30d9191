// The page's only door to the server: the public HTTP API (docs/architecture.md, "HTTP API beyond
// the thesis"). Every failure becomes an ApiError with the HTTP status (0 = network) and the
// server's own reason, so the caller can show it next to the file it concerns.

export class ApiError extends Error {
  constructor(status, detail) {
    super(describeError(status, detail));
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

const KEY_STORAGE = "dermcad.apiKey";

/** The API key of a server started with DERMCAD_API_KEYS; kept for this browser tab only. */
export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) ?? "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

function headers() {
  const key = apiKey();
  return key ? { Accept: "application/json", Authorization: `Bearer ${key}` } : { Accept: "application/json" };
}

const STATUS_TEXT = {
  0: "Cannot reach the dermcad server",
  400: "Bad request",
  401: "This server needs an API key",
  404: "Not found",
  408: "The server timed out",
  413: "Too large",
  415: "Not a supported image",
  422: "Refused",
  429: "Too many requests; try again shortly",
  500: "Server error",
  503: "Service unavailable",
};

/** One human sentence for an API failure: what kind of failure, then the server's reason. */
export function describeError(status, detail) {
  const kind = STATUS_TEXT[status] ?? (status >= 500 ? "Server error" : `Request failed (${status})`);
  if (status === 0) return `${kind}. Check the connection and try again.`;
  return detail ? `${kind}: ${detail}` : `${kind}.`;
}

/** FastAPI answers {"detail": "..."} or, for validation errors, {"detail": [{"msg": ...}, ...]}. */
export function detailText(body) {
  const detail = body && typeof body === "object" ? body.detail : body;
  if (Array.isArray(detail)) return detail.map((d) => d?.msg ?? JSON.stringify(d)).join("; ");
  if (detail == null) return "";
  return typeof detail === "string" ? detail : JSON.stringify(detail);
}

async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { headers: headers(), ...options });
  } catch {
    throw new ApiError(0, "");
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw new ApiError(response.status, detailText(body) || response.statusText);
  }
  return response;
}

async function json(path, options) {
  const response = await request(path, options);
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
}

export async function publicModels() {
  return (await json("public_models")).body.models ?? [];
}

export async function modelCards() {
  return (await json("models")).body.models ?? [];
}

export async function manifest(modelId) {
  return (await json(`models/${encodeURIComponent(modelId)}`)).body;
}

/** One file goes to /predict (field `file`), several to /predict_bulk (field `files`). */
export async function submit(modelId, files) {
  const form = new FormData();
  const single = files.length === 1;
  for (const file of files) form.append(single ? "file" : "files", file, file.name);
  const route = single ? "predict" : "predict_bulk";
  const query = new URLSearchParams({ model_id: modelId });
  return (await json(`${route}?${query}`, { method: "POST", body: form })).body;
}

export async function task(taskId) {
  return (await json(`tasks/${encodeURIComponent(taskId)}`)).body;
}

/** A URL an <img> can show: the URL itself, or (with an API key) a blob fetched with the key. */
export async function imageUrl(url) {
  if (!apiKey()) return url;
  const response = await request(url);
  return URL.createObjectURL(await response.blob());
}

/** 200 + the list when done; 202 + status while running (never an error). */
export async function results(taskId, wait = 0) {
  return json(`from_task/${encodeURIComponent(taskId)}?wait=${wait}`);
}
