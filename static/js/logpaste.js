"use strict";

// LogPaste's JavaScript client: window.logpaste.uploadText(text, baseUrl) resolves to the
// new paste's id, or rejects with an Error holding the server's message.
(function (win) {
  function uploadText(text, baseUrl) {
    const base = (baseUrl || "").replace(/\/+$/, "");
    return fetch(base + "/", { method: "PUT", body: text })
      .catch(() => {
        throw new Error("the server could not be reached");
      })
      .then((response) => {
        const contentType = response.headers.get("content-type") || "";
        // Success is exactly a 200 with a JSON body, as LogPaste's clients expect.
        if (response.status === 200 && contentType.indexOf("application/json") !== -1) {
          return response.json().then((data) => data.id);
        }
        return response.text().then((message) => {
          throw new Error(message.trim() || response.statusText || "upload failed");
        });
      });
  }

  if (!Object.prototype.hasOwnProperty.call(win, "logpaste")) {
    win.logpaste = {};
  }
  win.logpaste.uploadText = uploadText;
})(window);
