// How every page talks to the server, the one place that calls fetch: JSON both ways,
// this tab's own id on each request (the sets it is shown are its own; the token, where
// one is asked for, travels in the cookie the printed address left), and an error thrown
// with the message and status of the server's one error shape {ok, error, status}, or
// with status 0 when the server cannot be reached at all.

const PAGE_ID = Array.from(crypto.getRandomValues(new Uint8Array(12)),
  (b) => b.toString(16).padStart(2, "0")).join("");

export async function api(method, url, body = {}) {
  const post = method !== "GET";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: { "X-Tastemaker-Page": PAGE_ID, ...(post ? { "Content-Type": "application/json" } : {}) },
      body: post ? JSON.stringify(body) : undefined,
    });
  } catch {
    const error = new Error("The server cannot be reached");
    error.status = 0;
    throw error;
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.error || response.statusText);
    error.status = data.status || response.status;
    throw error;
  }
  return data;
}
