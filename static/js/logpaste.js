"use strict";

// LogPaste's JavaScript client, for this server's homepage and for any other web page:
//
//   logpaste.uploadText(text, baseUrl) -> Promise of the new paste's id
//
// `text` may be a string or a Blob/File (sent as its raw bytes). `baseUrl` is this server's
// URL, e.g. "https://logs.example.com" (a string, or anything that turns into one, such as a
// URL object, as LogPaste's client took it); empty means the page's own server. The promise
// rejects with an Error whose message is the server's own message. The error also carries
// `status` (the HTTP status, 0 when the server could not be reached) and
// `retryAfterSeconds` (from the answer's Retry-After header, which 429 and 503 answers carry,
// else null) and `fromServer` (false when the answer had no body: the message is then the
// status text, or "upload failed").
(function (win) {
  function retryAfterSeconds(response) {
    const header = response.headers.get("retry-after");
    if (!header) {
      return null;
    }
    if (/^\s*\d+\s*$/.test(header)) {
      return Number(header);
    }
    const date = Date.parse(header);
    if (Number.isNaN(date)) {
      return null;
    }
    return Math.max(1, Math.ceil((date - Date.now()) / 1000));
  }

  // fromServer: the message is the response body's (not a status text or our fallback).
  function uploadError(message, status, retryAfter, fromServer) {
    const error = new Error(message);
    error.status = status;
    error.retryAfterSeconds = retryAfter;
    error.fromServer = Boolean(fromServer);
    return error;
  }

  function uploadText(text, baseUrl) {
    const base = String(baseUrl == null ? "" : baseUrl).replace(/\/+$/, "");
    return fetch(base + "/", { method: "PUT", body: text })
      .catch(() => {
        throw uploadError("the server could not be reached", 0, null);
      })
      .then((response) => {
        const contentType = response.headers.get("content-type") || "";
        // Success is exactly a 200 with a JSON body, as LogPaste's clients expect.
        if (response.status === 200 && contentType.indexOf("application/json") !== -1) {
          return response.json().then((data) => data.id);
        }
        const retryAfter = retryAfterSeconds(response);
        return response
          .text()
          .catch(() => "")
          .then((message) => {
            const body = message.trim();
            throw uploadError(
              body || response.statusText || "upload failed",
              response.status,
              retryAfter,
              body !== ""
            );
          });
      });
  }

  if (!Object.prototype.hasOwnProperty.call(win, "logpaste")) {
    win.logpaste = {};
  }
  win.logpaste.uploadText = uploadText;
})(window);
