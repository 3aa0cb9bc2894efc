/* Carnet portal: drag-and-drop upload with progress. Without this script the plain file field
   and its button still work (the page then reloads with the result). */
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) {
    return;
  }
  var zone = document.getElementById("dropzone");
  var input = document.getElementById("file");
  var bar = document.getElementById("upload-bar");
  var progress = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  var submit = document.getElementById("upload-submit");
  var maxBytes = parseInt(form.dataset.maxBytes, 10);
  var counter = 0;
  var busy = false;

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function setProgress(percent) {
    bar.value = percent;
    bar.textContent = percent + " %";
  }

  function send(file, single, done) {
    if (file.size > maxBytes) {
      say(form.dataset.msgTooLarge, true);
      done(false);
      return;
    }
    var data = new FormData(form);
    data.set("file", file, file.name);
    if (!single) {
      data.set("title", "");
    }
    counter += 1;
    data.set("nonce", form.elements.nonce.value.slice(0, 24) + "-" + counter);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "carnet-portal");
    xhr.responseType = "json";
    progress.hidden = false;
    setProgress(0);
    say(form.dataset.msgSending.replace("{name}", file.name), false);
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) {
        setProgress(Math.round((event.loaded * 100) / event.total));
      }
    });
    xhr.addEventListener("load", function () {
      var body = xhr.response || {};
      if (xhr.status >= 200 && xhr.status < 300) {
        setProgress(100);
        say(form.dataset.msgDone, false);
        done(true, body.redirect);
        return;
      }
      var error = body.error || {};
      say(error.message || form.dataset.msgFailed, true);
      if (error.redirect) {
        window.location.assign(error.redirect);
      }
      done(false);
    });
    xhr.addEventListener("error", function () {
      say(form.dataset.msgFailed, true);
      done(false);
    });
    xhr.send(data);
  }

  function sendAll(files) {
    if (busy || !files || !files.length) {
      return;
    }
    busy = true;
    submit.disabled = true;
    var queue = Array.prototype.slice.call(files);
    var single = queue.length === 1;
    var allSent = true;
    var target = null;
    (function next() {
      if (!queue.length) {
        busy = false;
        submit.disabled = false;
        if (allSent && target) {
          window.location.assign(target);
        }
        return;
      }
      send(queue.shift(), single, function (success, redirect) {
        allSent = allSent && success;
        if (redirect) {
          target = redirect;
        }
        next();
      });
    })();
  }

  function hasFiles(event) {
    var types = event.dataTransfer ? event.dataTransfer.types : [];
    return Array.prototype.indexOf.call(types, "Files") !== -1;
  }

  zone.hidden = false;
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      event.preventDefault();
      zone.classList.add("over");
    });
  });
  ["dragleave", "dragend"].forEach(function (type) {
    zone.addEventListener(type, function () {
      zone.classList.remove("over");
    });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer) {
      sendAll(event.dataTransfer.files);
    }
  });
  // A file dropped beside the zone must not replace the page by the file.
  window.addEventListener("dragover", function (event) {
    if (hasFiles(event)) {
      event.preventDefault();
    }
  });
  window.addEventListener("drop", function (event) {
    if (hasFiles(event)) {
      event.preventDefault();
    }
  });

  form.addEventListener("submit", function (event) {
    if (!input.files || !input.files.length) {
      return; // the server answers that a file is needed
    }
    event.preventDefault();
    sendAll(input.files);
  });
})();
