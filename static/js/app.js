"use strict";

// The homepage's upload box. Without JavaScript both forms still post as multipart and the
// server answers with the link; this script uploads in place, shows the link with a copy
// button, uploads chosen and dropped files at once, and explains failures.
(function () {
  const MIB = 1024 * 1024;
  // Files up to this size are read to catch whitespace-only ones before an upload the server
  // would refuse (and a rate limit would count); larger ones are left to the server.
  const BLANK_CHECK_MAX_BYTES = 64 * 1024;
  // Exactly the characters the server's blank check skips: Rust's char::is_whitespace
  // (Unicode White_Space). JS trim() differs: it skips U+FEFF, which the server stores,
  // and keeps U+0085, which the server refuses as blank.
  const BLANK = /^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;

  const form = document.getElementById("upload-form");
  const textarea = document.getElementById("upload-textarea");
  const uploadButton = document.getElementById("upload");
  const fileInput = document.getElementById("upload-file");
  const fileButton = document.getElementById("upload-file-button");
  const result = document.getElementById("result");
  const errorLine = document.getElementById("form-upload-error");

  let busy = false;
  // What is uploading now ("text" or "file NAME"), for the note on a file that came meanwhile.
  let uploading = "";

  // A chosen file uploads at once: its own button only serves browsers without JavaScript.
  fileButton.hidden = true;
  // Our own messages replace the browser's validation bubbles.
  form.noValidate = true;

  function maxSizeBytes() {
    const mib = Number(form.dataset.maxSizeMib);
    return mib > 0 ? mib * MIB : null;
  }

  function byteSize(body) {
    return body instanceof Blob ? body.size : new Blob([body]).size;
  }

  function formatMib(bytes) {
    // Rounded up, so a paste just over the limit never reads as equal to it.
    return (Math.ceil((bytes / MIB) * 10) / 10).toFixed(1) + " MiB";
  }

  // "paste too large: the limit is 1 MiB" -> "Paste too large: the limit is 1 MiB."
  function asSentence(message) {
    const text = String(message || "").trim();
    if (text === "") {
      return "";
    }
    const capitalised = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(capitalised) ? capitalised : capitalised + ".";
  }

  // The server's own message, or "" when there is none worth showing: a proxy in front of
  // the server (Heroku's router, a load balancer, nginx) answers with an HTML page of its own
  // when the app is down or restarting, or when it refuses the upload itself.
  // An empty body is no message either: the client then falls back on the status text
  // ("Bad Gateway"; none at all over HTTP/2, where it says "upload failed").
  function serverMessage(error) {
    if (!error || !error.fromServer) {
      return "";
    }
    const message = String(error.message || "").trim();
    return message.charAt(0) === "<" ? "" : message;
  }

  function isBlank(text) {
    return BLANK.test(text);
  }

  function clearError() {
    errorLine.replaceChildren();
    delete errorLine.dataset.busyNote;
  }

  function showError(summary, detail) {
    result.replaceChildren();
    const strong = document.createElement("strong");
    strong.textContent = summary;
    errorLine.replaceChildren(strong, " " + detail);
    delete errorLine.dataset.busyNote;
  }

  // A file chosen or dropped while another upload runs is not uploaded: say so, beside the
  // "Uploading..." line, and keep saying it once that upload's link is shown.
  function showBusyNote(what) {
    showError(
      "Still uploading.",
      "The " + what + " was not uploaded: choose it again when the upload of " + uploading +
        " is done."
    );
    errorLine.dataset.busyNote = "true";
  }

  function setBusy(isBusy, message) {
    busy = isBusy;
    form.setAttribute("aria-busy", String(isBusy));
    // aria-disabled rather than disabled: a disabled button would drop keyboard focus.
    uploadButton.setAttribute("aria-disabled", String(isBusy));
    if (isBusy) {
      clearError();
      result.textContent = message;
    }
  }

  function showLink(id) {
    if (!errorLine.dataset.busyNote) {
      clearError();
    }
    const url = window.location.origin + "/" + id;

    const heading = document.createElement("h2");
    heading.className = "result-heading";
    heading.textContent = "Shareable link";

    const link = document.createElement("a");
    link.id = "result-link";
    link.href = url;
    link.textContent = url;

    const copyButton = document.createElement("button");
    copyButton.type = "button";
    copyButton.id = "copy-link";
    copyButton.className = "secondary";
    copyButton.textContent = "Copy link";
    copyButton.addEventListener("click", () => copyLink(url, link, copyButton));

    const row = document.createElement("div");
    row.className = "result-row";
    row.append(link, copyButton);
    result.replaceChildren(heading, row);
  }

  function showFailure(error) {
    const status = error && error.status;
    const message = serverMessage(error);
    if (status === 413) {
      // The server says "paste too large: the limit is N MiB": the summary says the first part.
      const detail = message.replace(/^\s*(paste\s+)?too large\s*[:.,;-]?\s*/i, "");
      showError("Too large.", asSentence(detail) || "The paste is over this server's size limit.");
    } else if (status === 429) {
      const seconds = error.retryAfterSeconds;
      showError(
        "Rate limited.",
        seconds
          ? "Too many uploads from your address: try again in " +
              seconds +
              (seconds === 1 ? " second." : " seconds.")
          : asSentence(message) || "Too many uploads from your address: try again later."
      );
    } else if (status === 0) {
      showError(
        "Server unreachable.",
        "The upload did not reach the server. Check your connection, then try again."
      );
    } else if (message) {
      showError("Upload failed.", asSentence(message));
    } else if (status >= 500) {
      showError(
        "Upload failed.",
        "The server could not take the upload just now (HTTP " + status + "). Try again in a moment."
      );
    } else {
      showError("Upload failed.", "The server refused the upload (HTTP " + status + ").");
    }
  }

  // what: "text" or a file name, for the messages.
  function upload(body, what) {
    if (busy) {
      // Text is the box's own, still uploading; a file came while a read was pending.
      if (body instanceof Blob) {
        showBusyNote(what);
      }
      return;
    }
    const limit = maxSizeBytes();
    const size = byteSize(body);
    if (limit !== null && size > limit) {
      showError(
        "Too large.",
        "This " + what + " is " + formatMib(size) + "; this server accepts up to " +
          formatMib(limit) + ". Nothing was uploaded."
      );
      return;
    }
    uploading = what;
    setBusy(true, "Uploading " + what + "\u2026");
    window.logpaste
      .uploadText(body, "")
      .then(showLink, showFailure)
      .finally(() => setBusy(false));
  }

  function uploadFile(file) {
    const what = "file " + file.name;
    if (busy) {
      showBusyNote(what);
      return;
    }
    if (file.size === 0) {
      showError("Nothing to upload.", "The file " + file.name + " is empty.");
      return;
    }
    if (file.size > BLANK_CHECK_MAX_BYTES) {
      upload(file, what);
      return;
    }
    file.arrayBuffer().then(
      (bytes) => {
        // ignoreBOM: a byte-order mark is text to the server, not whitespace. Invalid
        // UTF-8 decodes to U+FFFD, never blank, as the server sees it too.
        const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
        if (isBlank(text)) {
          showError("Nothing to upload.", "The file " + file.name + " holds only whitespace.");
        } else {
          upload(file, what);
        }
      },
      () => showError("Upload failed.", "The file " + file.name + " could not be read.")
    );
  }

  function copyWithSelection(text, returnFocusTo) {
    const scratch = document.createElement("textarea");
    scratch.value = text;
    scratch.setAttribute("readonly", "");
    scratch.setAttribute("aria-hidden", "true");
    scratch.className = "offscreen";
    document.body.appendChild(scratch);
    scratch.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (_) {
      copied = false;
    }
    scratch.remove();
    returnFocusTo.focus();
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copyLink(url, link, button) {
    const viaClipboardApi =
      navigator.clipboard && window.isSecureContext
        ? navigator.clipboard.writeText(url)
        : Promise.reject(new Error("no clipboard API"));
    viaClipboardApi
      .catch(() => copyWithSelection(url, button))
      .then(
        () => {
          button.textContent = "Copied";
        },
        () => {
          // Leave the link selected so that Ctrl+C (or a long press) copies it.
          const range = document.createRange();
          range.selectNodeContents(link);
          const selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          button.textContent = "Press Ctrl+C to copy";
        }
      );
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (isBlank(textarea.value)) {
      showError("Nothing to upload.", "Type or paste some text, or choose a file.");
      textarea.focus();
      return;
    }
    upload(textarea.value, "text");
  });

  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      uploadButton.click();
    }
  });

  fileInput.addEventListener("change", () => {
    const file = fileInput.files && fileInput.files[0];
    // Cleared so that choosing the same file again uploads it again.
    fileInput.value = "";
    if (file) {
      uploadFile(file);
    }
  });

  function carriesFiles(event) {
    return (
      event.dataTransfer !== null &&
      Array.prototype.indexOf.call(event.dataTransfer.types, "Files") !== -1
    );
  }

  textarea.addEventListener("dragover", (event) => {
    if (carriesFiles(event)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      textarea.classList.add("drag-over");
    }
  });
  textarea.addEventListener("dragleave", () => textarea.classList.remove("drag-over"));
  textarea.addEventListener("drop", (event) => {
    textarea.classList.remove("drag-over");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (!file) {
      return; // Dropped text goes into the box as usual.
    }
    event.preventDefault();
    event.stopPropagation();
    uploadFile(file);
  });

  // A file dropped beside the box must not replace this page with the file.
  window.addEventListener("dragover", (event) => {
    if (event.target !== textarea && carriesFiles(event)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "none";
    }
  });
  window.addEventListener("drop", (event) => {
    if (event.target !== textarea && carriesFiles(event)) {
      event.preventDefault();
    }
  });
})();
