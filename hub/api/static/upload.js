// Upload with a progress bar: the form still works without this script (plain POST).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-progress]")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const bar = document.getElementById(form.dataset.progress);
      const status = document.getElementById("upload-status");
      const button = form.querySelector("button[type=submit]");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      bar.hidden = false;
      bar.value = 0;
      button.disabled = true;
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) {
          bar.value = Math.round((e.loaded / e.total) * 100);
          status.textContent = "送信中 " + bar.value + "%";
        }
      });
      xhr.upload.addEventListener("load", () => {
        bar.removeAttribute("value");
        status.textContent = "送信完了。検査と取り込みを行っています…";
      });
      xhr.addEventListener("load", () => {
        // The answer is the whole result page: show it in place of this one.
        const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        document.title = doc.title;
        document.body.replaceWith(document.adoptNode(doc.body));
        document.dispatchEvent(new Event("DOMContentLoaded"));
      });
      xhr.addEventListener("error", () => {
        button.disabled = false;
        status.textContent = "送信できませんでした。接続を確認してもう一度お試しください。";
      });
      xhr.send(new FormData(form));
    });
  }
});
