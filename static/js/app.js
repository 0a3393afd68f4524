"use strict";

// The homepage's upload box. Without JavaScript the form still posts as multipart.
(function () {
  const form = document.getElementById("upload-form");
  const textarea = document.getElementById("upload-textarea");
  const fileInput = document.getElementById("upload-file");
  const button = document.getElementById("upload");
  const result = document.getElementById("result");
  const errorLine = document.getElementById("form-error");

  function showError(message) {
    result.replaceChildren();
    errorLine.textContent = message;
  }

  function showLink(id) {
    errorLine.textContent = "";
    const url = window.location.origin + "/" + id;
    const link = document.createElement("a");
    link.href = url;
    link.textContent = url;
    result.replaceChildren(link);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = fileInput.files && fileInput.files[0];
    const body = file ? file : textarea.value;
    if (!file && textarea.value.trim() === "") {
      showError("Nothing to upload: type some text or choose a file.");
      return;
    }
    button.disabled = true;
    window.logpaste
      .uploadText(body, "")
      .then(showLink)
      .catch((error) => showError(error.message))
      .finally(() => {
        button.disabled = false;
      });
  });
})();
