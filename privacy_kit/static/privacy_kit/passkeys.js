// Passkeys on the admin's pages: the browser's WebAuthn API between privacy_kit's challenge and its form.
// The server sends options as JSON (base64url for bytes); the form gets the browser's answer as JSON.
(function () {
  "use strict";

  function toBytes(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
  }

  function toText(buffer) {
    const binary = String.fromCharCode(...new Uint8Array(buffer));
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBytes(descriptors) {
    return (descriptors || []).map((d) => Object.assign({}, d, { id: toBytes(d.id) }));
  }

  function creationOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: withBytes(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      allowCredentials: withBytes(json.allowCredentials),
    });
  }

  function answer(credential) {
    if (credential.toJSON) {
      return JSON.stringify(credential.toJSON());
    }
    const response = {};
    for (const name of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
      if (credential.response[name]) {
        response[name] = toText(credential.response[name]);
      }
    }
    if (credential.response.getTransports) {
      response.transports = credential.response.getTransports();
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: response,
      authenticatorAttachment: credential.authenticatorAttachment,
      clientExtensionResults: credential.getClientExtensionResults(),
    });
  }

  async function fetchOptions(url, form) {
    const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    const reply = await fetch(url, { method: "POST", headers: { "X-CSRFToken": token }, credentials: "same-origin" });
    const data = await reply.json();
    if (!reply.ok) {
      throw new Error(data.detail || reply.statusText);
    }
    return data;
  }

  function showError(form) {
    const note = form.querySelector("[data-passkey-error]");
    if (note) {
      note.hidden = false;
    }
  }

  // The login page: after the password, the passkey answers the challenge; the form checks both.
  document.querySelectorAll("[data-passkey-login]").forEach((button) => {
    button.addEventListener("click", async () => {
      const form = button.form;
      if (!form.reportValidity()) {
        return;
      }
      const field = form.querySelector("input[name=passkey]");
      try {
        const options = requestOptions(await fetchOptions(button.dataset.passkeyLogin, form));
        field.value = answer(await navigator.credentials.get({ publicKey: options }));
      } catch (error) {
        // Cancelled or refused by the browser: the server counts it as a failed second factor.
        field.value = "cancelled";
      }
      form.submit();
    });
  });

  // The passkeys page: the browser makes the passkey, the form sends it with its name.
  document.querySelectorAll("[data-passkey-register]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      const field = form.querySelector("input[name=response]");
      if (field.value) {
        return;
      }
      event.preventDefault();
      try {
        const options = creationOptions(await fetchOptions(form.dataset.passkeyRegister, form));
        field.value = answer(await navigator.credentials.create({ publicKey: options }));
      } catch (error) {
        showError(form);
        return;
      }
      form.submit();
    });
  });
})();
