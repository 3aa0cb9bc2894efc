/* Carnet portal: passkeys. A form marked data-passkey="create" (adding one) or "get" (signing in)
   first posts itself to data-options, receives the WebAuthn options as JSON (binary values in
   base64url), calls navigator.credentials, then posts the credential, as JSON text in its hidden
   "credential" field, to its own action: the server answers with an ordinary page. Without this
   script (or without WebAuthn), the form posts no credential and the page says so. */
(function () {
  "use strict";

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) {
      return null;
    }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i += 1) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBuffers(descriptors) {
    return (descriptors || []).map(function (descriptor) {
      var copy = Object.assign({}, descriptor);
      copy.id = toBuffer(descriptor.id);
      return copy;
    });
  }

  function creationOptions(options) {
    options.challenge = toBuffer(options.challenge);
    options.user.id = toBuffer(options.user.id);
    options.excludeCredentials = withBuffers(options.excludeCredentials);
    return { publicKey: options };
  }

  function requestOptions(options) {
    options.challenge = toBuffer(options.challenge);
    options.allowCredentials = withBuffers(options.allowCredentials);
    return { publicKey: options };
  }

  function asJson(credential) {
    var response = credential.response;
    var answer = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      answer.response.attestationObject = toText(response.attestationObject);
      answer.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      answer.response.authenticatorData = toText(response.authenticatorData);
      answer.response.signature = toText(response.signature);
      answer.response.userHandle = toText(response.userHandle);
    }
    return JSON.stringify(answer);
  }

  function setUp(form) {
    var status = form.querySelector("[data-passkey-status]");
    var creating = form.dataset.passkey === "create";
    var busy = false;

    function say(text) {
      status.textContent = text;
      status.hidden = !text;
    }

    if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        say(form.dataset.msgUnsupported);
      });
      return;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      say("");
      form.querySelectorAll("[data-copy]").forEach(function (field) {
        var source = document.getElementById(field.dataset.copy);
        field.value = source && source.checked ? source.value : "";
      });
      fetch(form.dataset.options, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "X-Requested-With": "carnet-portal" }
      })
        .then(function (reply) {
          return reply.json().then(function (body) {
            if (!reply.ok || !body.publicKey) {
              throw new Error(body.error || form.dataset.msgFailed);
            }
            return creating
              ? navigator.credentials.create(creationOptions(body.publicKey))
              : navigator.credentials.get(requestOptions(body.publicKey));
          });
        })
        .then(function (credential) {
          form.elements.credential.value = asJson(credential);
          form.querySelectorAll("input[type=password]").forEach(function (field) {
            field.value = "";  // checked already: the password is not sent twice
          });
          form.submit();
        })
        .catch(function (error) {
          busy = false;
          // A refusal of the server comes in the person's language; the browser's own errors
          // (cancelled, timed out) get the form's general message.
          say(error && error.name === "Error" && error.message ? error.message : form.dataset.msgFailed);
        });
    });
  }

  document.querySelectorAll("form[data-passkey]").forEach(setUp);
})();
